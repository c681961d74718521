#include "tokenizer/tokenizer_files.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string_view>

#include "tokenizer/tokenizer_error.h"

namespace bagel::tokenizer {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

[[noreturn]] void Fail(const fs::path& file, const std::string& what) {
  throw TokenizerError(file.string() + ": " + what);
}

std::string ReadWholeFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) Fail(file, std::string("cannot open (") + std::strerror(errno) + ")");
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) Fail(file, "read error");
  return std::move(contents).str();
}

json ParseJsonFile(const fs::path& file) {
  const std::string text = ReadWholeFile(file);
  try {
    return json::parse(text);
  } catch (const json::parse_error& error) {
    Fail(file, std::string("not valid JSON: ") + error.what());
  }
}

std::string Quoted(std::string_view text) { return json(std::string(text)).dump(); }

TokenId ReadId(const json& value, const fs::path& file, const std::string& field) {
  if (!value.is_number_integer()) Fail(file, field + ": expected an integer token id");
  if (value.is_number_unsigned() ? value.get<uint64_t>() > std::numeric_limits<TokenId>::max()
                                 : (value.get<int64_t>() < 0 ||
                                    value.get<int64_t>() > std::numeric_limits<TokenId>::max())) {
    Fail(file, field + ": token id " + value.dump() + " is out of range");
  }
  return static_cast<TokenId>(value.get<int64_t>());
}

const json& RequireField(const json& object, const char* name, const fs::path& file,
                         const std::string& where) {
  auto found = object.find(name);
  if (found == object.end()) Fail(file, "field " + where + name + " is missing");
  return *found;
}

bool ReadOptionalBool(const json& object, const char* name, bool fallback, const fs::path& file,
                      const std::string& where) {
  auto found = object.find(name);
  if (found == object.end() || found->is_null()) return fallback;
  if (!found->is_boolean()) Fail(file, "field " + where + name + ": expected true or false");
  return found->get<bool>();
}

void ReadVocabObject(const json& vocab, const fs::path& file, const std::string& where,
                     TokenizerDefinition* definition) {
  if (!vocab.is_object()) Fail(file, "field " + where + ": expected an object of token -> id");
  definition->vocab.reserve(vocab.size());
  for (const auto& [spelling, id] : vocab.items()) {
    definition->vocab.emplace_back(spelling,
                                   ReadId(id, file, where + "[" + Quoted(spelling) + "]"));
  }
}

// Flags of an HF AddedToken that change how it is matched; none of Qwen2's tokens sets them.
void RejectUnsupportedAddedTokenFlags(const json& token, const fs::path& file,
                                      const std::string& where) {
  for (const char* flag : {"lstrip", "rstrip", "single_word"}) {
    if (ReadOptionalBool(token, flag, false, file, where)) {
      Fail(file,
           "field " + where + flag + " is true: added tokens with " + flag + " are not supported");
    }
  }
}

// "left right" -> (left, right): exactly one space, both sides non-empty.
std::optional<std::pair<std::string, std::string>> SplitMerge(std::string_view text) {
  const size_t space = text.find(' ');
  if (space == std::string_view::npos || space == 0 || space + 1 == text.size() ||
      text.find(' ', space + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  return std::pair{std::string(text.substr(0, space)), std::string(text.substr(space + 1))};
}

void ReadModel(const json& model, const fs::path& file, TokenizerDefinition* definition) {
  if (!model.is_object()) Fail(file, "field model: expected an object");
  if (auto type = model.find("type"); type != model.end() && *type != "BPE") {
    Fail(file, "field model.type: expected \"BPE\", got " + type->dump());
  }
  if (ReadOptionalBool(model, "byte_fallback", false, file, "model.")) {
    Fail(file, "field model.byte_fallback is true: not supported by a byte-level BPE");
  }
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto found = model.find(affix);
    if (found != model.end() && !found->is_null() && *found != "") {
      Fail(file, std::string("field model.") + affix + " is set: not supported");
    }
  }
  if (auto dropout = model.find("dropout");
      dropout != model.end() && !dropout->is_null() &&
      !(dropout->is_number() && dropout->get<double>() == 0)) {
    Fail(file, "field model.dropout is set: BPE dropout is not supported");
  }
  definition->ignore_merges = ReadOptionalBool(model, "ignore_merges", false, file, "model.");

  ReadVocabObject(RequireField(model, "vocab", file, "model."), file, "model.vocab", definition);

  const json& merges = RequireField(model, "merges", file, "model.");
  if (!merges.is_array()) Fail(file, "field model.merges: expected an array");
  definition->merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& merge = merges[i];
    const std::string field = "field model.merges[" + std::to_string(i) + "]";
    if (merge.is_string()) {
      auto split = SplitMerge(merge.get_ref<const std::string&>());
      if (!split) Fail(file, field + ": expected \"left right\", got " + merge.dump());
      definition->merges.push_back(std::move(*split));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string() && !merge[0].get_ref<const std::string&>().empty() &&
               !merge[1].get_ref<const std::string&>().empty()) {
      definition->merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      Fail(file, field + ": expected \"left right\" or [left, right], got " + merge.dump());
    }
  }
  definition->vocab_origin = file.string() + ": model.vocab";
  definition->merge_origin = MergeOrigin{file.string() + ": model.merges[", 0, "]"};
}

void ReadAddedTokensArray(const json& added, const fs::path& file,
                          TokenizerDefinition* definition) {
  if (!added.is_array()) Fail(file, "field added_tokens: expected an array");
  for (size_t i = 0; i < added.size(); ++i) {
    const json& token = added[i];
    const std::string where = "added_tokens[" + std::to_string(i) + "].";
    if (!token.is_object())
      Fail(file, "field added_tokens[" + std::to_string(i) + "]: expected an object");
    const json& content = RequireField(token, "content", file, where);
    if (!content.is_string() || content.get_ref<const std::string&>().empty()) {
      Fail(file, "field " + where + "content: expected a non-empty string");
    }
    RejectUnsupportedAddedTokenFlags(token, file, where);
    AddedTokenSpec spec;
    spec.content = content.get<std::string>();
    spec.id = ReadId(RequireField(token, "id", file, where), file, "field " + where + "id");
    spec.special = ReadOptionalBool(token, "special", false, file, where);
    spec.origin =
        file.string() + ": added_tokens[" + std::to_string(i) + "] " + Quoted(spec.content);
    definition->added_tokens.push_back(std::move(spec));
  }
}

}  // namespace

TokenizerDefinition ReadTokenizerJson(const fs::path& tokenizer_json) {
  const json root = ParseJsonFile(tokenizer_json);
  if (!root.is_object()) Fail(tokenizer_json, "expected a JSON object");
  TokenizerDefinition definition;
  ReadModel(RequireField(root, "model", tokenizer_json, ""), tokenizer_json, &definition);
  if (auto added = root.find("added_tokens"); added != root.end() && !added->is_null()) {
    ReadAddedTokensArray(*added, tokenizer_json, &definition);
  }
  return definition;
}

TokenizerDefinition ReadVocabAndMerges(const fs::path& vocab_json, const fs::path& merges_txt) {
  TokenizerDefinition definition;
  ReadVocabObject(ParseJsonFile(vocab_json), vocab_json, "(top level)", &definition);
  definition.vocab_origin = vocab_json.string();

  const std::string text = ReadWholeFile(merges_txt);
  size_t line_number = 0;
  size_t first_merge_line = 0;
  size_t blank_line = 0;  // the first blank line after the merges began, if any
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + begin, end - begin);
    begin = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line_number == 1 && line.starts_with("#version")) continue;
    if (line.empty()) {
      if (first_merge_line != 0 && blank_line == 0) blank_line = line_number;
      continue;
    }
    // Blank lines may only end the file: inside, they would break the line <-> rank numbering.
    if (blank_line != 0) {
      Fail(merges_txt, "line " + std::to_string(blank_line) + ": blank line inside the merges");
    }
    if (first_merge_line == 0) first_merge_line = line_number;
    auto split = SplitMerge(line);
    if (!split) {
      Fail(merges_txt, "line " + std::to_string(line_number) +
                           ": expected two tokens separated by one space, got " + Quoted(line));
    }
    definition.merges.push_back(std::move(*split));
  }
  definition.merge_origin = MergeOrigin{merges_txt.string() + ": line ",
                                        first_merge_line == 0 ? 1 : first_merge_line, ""};
  return definition;
}

void ReadAddedTokensJson(const fs::path& added_tokens_json, TokenizerDefinition* definition) {
  const json added = ParseJsonFile(added_tokens_json);
  if (!added.is_object()) Fail(added_tokens_json, "expected an object of token -> id");
  for (const auto& [content, id] : added.items()) {
    if (content.empty()) Fail(added_tokens_json, "an added token has empty content");
    AddedTokenSpec spec;
    spec.content = content;
    spec.id = ReadId(id, added_tokens_json, "field " + Quoted(content));
    spec.special = true;
    spec.origin = added_tokens_json.string() + ": " + Quoted(content);
    definition->added_tokens.push_back(std::move(spec));
  }
}

void ReadTokenizerConfigAddedTokens(const fs::path& tokenizer_config_json,
                                    TokenizerDefinition* definition) {
  const json config = ParseJsonFile(tokenizer_config_json);
  if (!config.is_object()) Fail(tokenizer_config_json, "expected a JSON object");
  auto decoder = config.find("added_tokens_decoder");
  if (decoder == config.end() || decoder->is_null()) return;
  if (!decoder->is_object()) {
    Fail(tokenizer_config_json, "field added_tokens_decoder: expected an object of id -> token");
  }
  for (const auto& [id_text, token] : decoder->items()) {
    const std::string where = "added_tokens_decoder[" + Quoted(id_text) + "].";
    TokenId id = 0;
    try {
      size_t used = 0;
      const long long parsed = std::stoll(id_text, &used);
      if (used != id_text.size() || parsed < 0 || parsed > std::numeric_limits<TokenId>::max()) {
        throw std::out_of_range(id_text);
      }
      id = static_cast<TokenId>(parsed);
    } catch (const std::logic_error&) {
      Fail(tokenizer_config_json,
           "field added_tokens_decoder: key " + Quoted(id_text) + " is not a token id");
    }
    if (!token.is_object()) Fail(tokenizer_config_json, "field " + where + ": expected an object");
    const json& content = RequireField(token, "content", tokenizer_config_json, where);
    if (!content.is_string() || content.get_ref<const std::string&>().empty()) {
      Fail(tokenizer_config_json, "field " + where + "content: expected a non-empty string");
    }
    RejectUnsupportedAddedTokenFlags(token, tokenizer_config_json, where);
    AddedTokenSpec spec;
    spec.content = content.get<std::string>();
    spec.id = id;
    spec.special = ReadOptionalBool(token, "special", false, tokenizer_config_json, where);
    spec.origin =
        tokenizer_config_json.string() + ": added_tokens_decoder[" + Quoted(id_text) + "]";
    definition->added_tokens.push_back(std::move(spec));
  }
}

TokenizerDefinition ReadTokenizerDirectory(const fs::path& dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) Fail(dir, "not a directory");
  if (fs::exists(dir / "tokenizer.json")) return ReadTokenizerJson(dir / "tokenizer.json");
  const fs::path vocab = dir / "vocab.json";
  const fs::path merges = dir / "merges.txt";
  if (!fs::exists(vocab) && !fs::exists(merges)) {
    Fail(dir, "holds neither tokenizer.json nor vocab.json + merges.txt");
  }
  TokenizerDefinition definition = ReadVocabAndMerges(vocab, merges);
  if (fs::exists(dir / "added_tokens.json")) {
    ReadAddedTokensJson(dir / "added_tokens.json", &definition);
  }
  if (fs::exists(dir / "tokenizer_config.json")) {
    ReadTokenizerConfigAddedTokens(dir / "tokenizer_config.json", &definition);
  }
  return definition;
}

}  // namespace bagel::tokenizer
