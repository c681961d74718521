// bagel-tokenize: Qwen2 tokenization of JSON lines (tests/golden/README.md, "Tokenizer").
//
//   bagel-tokenize --tokenizer DIR [--decode] < IN.jsonl > OUT.jsonl
// DIR holds tokenizer.json, or vocab.json + merges.txt (+ added_tokens.json). Encoding reads
// {"text": ...} lines and writes {"ids": [...]} lines; --decode the reverse. Exit 0 on success; on
// bad input one line "bagel-tokenize: error: <file>:<line>: <field>: <what>" and exit 1.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "tokenizer/jsonl_tokenize.h"
#include "tokenizer/qwen2_tokenizer.h"

int main(int argc, char** argv) {
  CLI::App app{"Qwen2 byte-level BPE tokenization of JSON lines (stdin -> stdout)"};
  std::string tokenizer_dir;
  bool decode = false;
  app.add_option("--tokenizer", tokenizer_dir,
                 "directory with tokenizer.json, or vocab.json + merges.txt (+ added_tokens.json)")
      ->required();
  app.add_flag("--decode", decode, "read {\"ids\": [...]} lines and write {\"text\": ...} lines");
  CLI11_PARSE(app, argc, argv);

  try {
    namespace tok = bagel::tokenizer;
    const auto tokenizer = tok::Qwen2Tokenizer::FromDirectory(tokenizer_dir);
    std::ios::sync_with_stdio(false);
    std::cin.tie(nullptr);
    tok::ConvertJsonLines(
        tokenizer, decode ? tok::JsonLinesDirection::kDecode : tok::JsonLinesDirection::kEncode,
        std::cin, "stdin", std::cout);
    std::cout.flush();
    if (!std::cout) {
      std::cerr << "bagel-tokenize: error: writing stdout failed\n";
      return 1;
    }
  } catch (const std::exception& error) {
    std::cout.flush();
    std::cerr << "bagel-tokenize: error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
