#include "tokenizer/tokenizer_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer_error.h"

namespace bagel::tokenizer {
namespace {

namespace fs = std::filesystem;

void WriteFile(const fs::path& file, const std::string& contents) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out) throw TokenizerError(file.string() + ": cannot create (" + std::strerror(errno) + ")");
  out << contents;
  out.close();
  if (!out) throw TokenizerError(file.string() + ": write error");
}

}  // namespace

void WriteTokenizerDirectory(const TokenizerDefinition& definition, const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw TokenizerError(dir.string() + ": cannot create (" + ec.message() + ")");

  auto vocab = definition.vocab;
  std::sort(vocab.begin(), vocab.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  // Written entry by entry in id order (nlohmann's ordered_json inserts in linear time).
  std::string vocab_json = "{";
  for (const auto& [spelling, id] : vocab) {
    if (vocab_json.size() > 1) vocab_json += ", ";
    vocab_json.append(nlohmann::json(spelling).dump()).append(": ").append(std::to_string(id));
  }
  vocab_json += "}";
  WriteFile(dir / "vocab.json", vocab_json);

  std::string merges = "#version: 0.2\n";
  for (const auto& [left, right] : definition.merges) {
    merges.append(left).append(" ").append(right).append("\n");
  }
  WriteFile(dir / "merges.txt", merges);

  nlohmann::ordered_json added = nlohmann::ordered_json::object();
  for (const AddedTokenSpec& token : definition.added_tokens) added[token.content] = token.id;
  WriteFile(dir / "added_tokens.json", added.dump(1) + "\n");
}

}  // namespace bagel::tokenizer
