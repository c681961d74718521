#include "tokenizer/jsonl_tokenize.h"

#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/tokenizer_error.h"

namespace bagel::tokenizer {
namespace {

using nlohmann::json;

class LineContext {
 public:
  LineContext(std::string_view input_name, size_t line) : input_name_(input_name), line_(line) {}

  [[noreturn]] void Fail(const std::string& what) const {
    throw TokenizerError(std::string(input_name_) + ":" + std::to_string(line_) + ": " + what);
  }

 private:
  std::string_view input_name_;
  size_t line_;
};

const json& RequireField(const json& object, const char* name, const LineContext& context) {
  auto found = object.find(name);
  if (found == object.end()) context.Fail(std::string("field \"") + name + "\" is missing");
  return *found;
}

void AppendIdsLine(const std::vector<TokenId>& ids, std::string* line) {
  line->append("{\"ids\": [");
  char number[16];
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) line->append(", ");
    auto [end, error] = std::to_chars(number, number + sizeof(number), ids[i]);
    line->append(number, end);
  }
  line->append("]}\n");
}

std::vector<TokenId> ReadIds(const json& ids, const LineContext& context) {
  if (!ids.is_array()) context.Fail("field \"ids\": expected an array of token ids");
  std::vector<TokenId> result;
  result.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const json& id = ids[i];
    const bool in_range =
        id.is_number_unsigned()
            ? id.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<TokenId>::max())
            : id.is_number_integer() && id.get<int64_t>() >= 0 &&
                  id.get<int64_t>() <= std::numeric_limits<TokenId>::max();
    if (!in_range) {
      context.Fail("field \"ids\"[" + std::to_string(i) +
                   "]: expected a non-negative integer token id, got " + id.dump());
    }
    result.push_back(static_cast<TokenId>(id.get<int64_t>()));
  }
  return result;
}

}  // namespace

size_t ConvertJsonLines(const Qwen2Tokenizer& tokenizer, JsonLinesDirection direction,
                        std::istream& in, std::string_view input_name, std::ostream& out) {
  std::string line;
  std::string result;
  std::vector<TokenId> ids;
  size_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    const LineContext context(input_name, line_number);
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      context.Fail("blank line, expected a JSON object");
    }
    json object;
    try {
      object = json::parse(line);
    } catch (const json::parse_error& error) {
      context.Fail(std::string("not valid JSON: ") + error.what());
    }
    if (!object.is_object()) context.Fail("expected a JSON object, got " + object.dump());

    result.clear();
    if (direction == JsonLinesDirection::kEncode) {
      const json& text = RequireField(object, "text", context);
      if (!text.is_string()) context.Fail("field \"text\": expected a string, got " + text.dump());
      ids.clear();
      try {
        tokenizer.EncodeInto(text.get_ref<const std::string&>(), &ids);
      } catch (const TokenizerError& error) {
        context.Fail(std::string("field \"text\": ") + error.what());
      }
      AppendIdsLine(ids, &result);
    } else {
      ids = ReadIds(RequireField(object, "ids", context), context);
      std::string text;
      try {
        text = tokenizer.Decode(ids);
      } catch (const TokenizerError& error) {
        context.Fail(std::string("field \"ids\": ") + error.what());
      }
      result.append("{\"text\": ");
      result.append(json(text).dump());
      result.append("}\n");
    }
    out.write(result.data(), static_cast<std::streamsize>(result.size()));
  }
  if (in.bad()) throw TokenizerError(std::string(input_name) + ": read error");
  return line_number;
}

}  // namespace bagel::tokenizer
