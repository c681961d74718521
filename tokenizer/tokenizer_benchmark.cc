// bagel-tokenizer-bench: single-thread encoding throughput of the Qwen2 tokenizer on a corpus.
//
//   bagel-tokenizer-bench --tokenizer DIR --corpus CORPUS.jsonl [--min-seconds S]
//                         [--cache-capacity N]
// CORPUS.jsonl holds one {"text": ...} a line (tokenizer/reference_tokenizers.py
// writes one). Prints the load time, then MB/s (MB = 10^6 bytes of UTF-8 input) and tokens/s of a
// first pass (cold word cache) and of repeated passes until S seconds have passed.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/qwen2_tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace tok = bagel::tokenizer;

std::vector<std::string> ReadCorpus(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::vector<std::string> texts;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
  }
  return texts;
}

struct Pass {
  double seconds = 0;
  size_t bytes = 0;
  size_t tokens = 0;
};

Pass EncodeAll(const tok::Qwen2Tokenizer& tokenizer, const std::vector<std::string>& texts) {
  Pass pass;
  std::vector<tok::TokenId> ids;
  const auto start = Clock::now();
  for (const std::string& text : texts) {
    ids.clear();
    tokenizer.EncodeInto(text, &ids);
    pass.bytes += text.size();
    pass.tokens += ids.size();
  }
  pass.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return pass;
}

void Report(const char* label, const Pass& pass) {
  std::printf("%-22s %9.2f MB/s  %10.0f tokens/s  (%zu bytes, %zu tokens, %.3f s)\n", label,
              pass.bytes / pass.seconds / 1e6, pass.tokens / pass.seconds, pass.bytes, pass.tokens,
              pass.seconds);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Single-thread encoding throughput of the Qwen2 tokenizer"};
  std::string tokenizer_dir, corpus;
  double min_seconds = 3.0;
  size_t cache_capacity = tok::TokenizerOptions{}.word_cache_capacity;
  app.add_option("--tokenizer", tokenizer_dir, "tokenizer directory")->required();
  app.add_option("--corpus", corpus, "JSON lines, one {\"text\": ...} a line")->required();
  app.add_option("--min-seconds", min_seconds, "time the repeated passes for at least this long");
  app.add_option("--cache-capacity", cache_capacity, "word cache capacity (0 disables)");
  CLI11_PARSE(app, argc, argv);
  try {
    const auto texts = ReadCorpus(corpus);
    const auto load_start = Clock::now();
    const auto tokenizer =
        tok::Qwen2Tokenizer::FromDirectory(tokenizer_dir, tok::TokenizerOptions{cache_capacity});
    std::printf("load %.3f s, regex JIT %s, %zu texts, word cache %zu\n",
                std::chrono::duration<double>(Clock::now() - load_start).count(),
                tokenizer.uses_jit() ? "on" : "off", texts.size(), cache_capacity);
    Report("first pass", EncodeAll(tokenizer, texts));
    Pass total;
    while (total.seconds < min_seconds) {
      const Pass pass = EncodeAll(tokenizer, texts);
      total.seconds += pass.seconds;
      total.bytes += pass.bytes;
      total.tokens += pass.tokens;
    }
    Report("repeated passes", total);
  } catch (const std::exception& error) {
    std::cerr << "bagel-tokenizer-bench: error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
