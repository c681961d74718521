// The Thrift compact protocol, the encoding of Parquet's footer and page headers, as a small
// generic codec: Decode reads one struct into a tree of values (field id -> value) that the
// Parquet code picks fields from; Encoder writes structs field by field. Only what Parquet uses
// is supported (no maps on the write side). Written for this project instead of Thrift code
// generation: Parquet's metadata is a handful of structs, and unknown fields are kept or skipped
// without a schema.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bagel::data::thrift {

class ThriftError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Compact-protocol type codes.
enum class Type : uint8_t {
  kStop = 0,
  kTrue = 1,
  kFalse = 2,
  kByte = 3,
  kI16 = 4,
  kI32 = 5,
  kI64 = 6,
  kDouble = 7,
  kBinary = 8,
  kList = 9,
  kSet = 10,
  kMap = 11,
  kStruct = 12,
};

struct Value;
using Struct = std::map<int16_t, Value>;

// A decoded value: integers of every width in `i`, booleans in `i` (0/1), binary/strings in
// `s`, lists and sets in `list`, structs in `fields`, maps as a list of alternating keys/values.
struct Value {
  Type type = Type::kStop;
  int64_t i = 0;
  double d = 0;
  std::string s;
  std::vector<Value> list;
  std::shared_ptr<Struct> fields;

  // Typed access for Parquet's fields; throws ThriftError naming `what` on a type mismatch.
  int64_t Int(const char* what) const;
  const std::string& Str(const char* what) const;
  const std::vector<Value>& List(const char* what) const;
  const Struct& Fields(const char* what) const;
};

// Field lookup helpers: `Get` throws naming `what` when a required field is absent.
const Value& Get(const Struct& s, int16_t id, const char* what);
const Value* Find(const Struct& s, int16_t id);

// At most this many values are decoded from one struct (a ThriftError past it): every value
// takes at least one byte, but each costs ~100 bytes of memory, and a real Parquet footer has
// well under a million.
inline constexpr uint64_t kMaxDecodedValues = uint64_t{1} << 23;

// Decodes one struct from data[*offset...], advancing *offset past it.
Struct DecodeStruct(std::string_view data, size_t* offset, uint64_t max_values = kMaxDecodedValues);

// Writes a struct: call the field methods in increasing id order, nest with BeginStruct /
// EndStruct, and finish with End() for the outermost one.
class Encoder {
 public:
  void I32(int16_t id, int32_t v);
  void I64(int16_t id, int64_t v);
  void Bool(int16_t id, bool v);
  void Binary(int16_t id, std::string_view v);
  void BeginStruct(int16_t id);
  void EndStruct();
  // A list of i32 or of binary values.
  void I32List(int16_t id, const std::vector<int32_t>& v);
  void BinaryList(int16_t id, const std::vector<std::string>& v);
  // A list of structs: BeginStructList(id, n), then n times (BeginListStruct ... EndStruct).
  void BeginStructList(int16_t id, size_t n);
  void BeginListStruct();
  // Closes the outermost struct.
  void End();

  const std::string& bytes() const { return out_; }

 private:
  void FieldHeader(int16_t id, Type type);
  void ListHeader(size_t n, Type element);
  void Varint(uint64_t v);
  void ZigZag(int64_t v);

  std::string out_;
  std::vector<int16_t> last_id_{0};
};

}  // namespace bagel::data::thrift
