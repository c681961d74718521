#include "worker/data/parquet/thrift_compact.h"

#include <cstring>

namespace bagel::data::thrift {
namespace {

constexpr int kMaxDepth = 64;

class Reader {
 public:
  Reader(std::string_view data, size_t offset, uint64_t max_values)
      : data_(data), pos_(offset), values_left_(max_values) {}
  size_t pos() const { return pos_; }

  uint8_t Byte() {
    if (pos_ >= data_.size())
      throw ThriftError("thrift: unexpected end of data at byte " + std::to_string(pos_));
    return static_cast<uint8_t>(data_[pos_++]);
  }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const uint8_t b = Byte();
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw ThriftError("thrift: varint longer than 10 bytes at byte " + std::to_string(pos_));
  }
  int64_t ZigZag() {
    const uint64_t v = Varint();
    return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }
  std::string Bytes(uint64_t n) {
    if (n > data_.size() - pos_) {
      throw ThriftError("thrift: a binary of " + std::to_string(n) + " bytes runs past the end");
    }
    std::string s(data_.substr(pos_, n));
    pos_ += n;
    return s;
  }

  Value ReadValue(Type type, int depth) {
    if (depth > kMaxDepth) throw ThriftError("thrift: nesting deeper than 64 levels");
    if (values_left_ == 0) throw ThriftError("thrift: too many values");
    --values_left_;
    Value v;
    v.type = type;
    switch (type) {
      case Type::kTrue:
        v.i = 1;
        break;
      case Type::kFalse:
        v.i = 0;
        break;
      case Type::kByte:
        v.i = static_cast<int8_t>(Byte());
        break;
      case Type::kI16:
      case Type::kI32:
      case Type::kI64:
        v.i = ZigZag();
        break;
      case Type::kDouble: {
        uint64_t bits = 0;
        for (int k = 0; k < 8; ++k) bits |= static_cast<uint64_t>(Byte()) << (8 * k);
        std::memcpy(&v.d, &bits, 8);
        break;
      }
      case Type::kBinary:
        v.s = Bytes(Varint());
        break;
      case Type::kList:
      case Type::kSet: {
        const uint8_t h = Byte();
        uint64_t n = h >> 4;
        if (n == 15) n = Varint();
        const Type element = static_cast<Type>(h & 0x0f);
        if (n > data_.size() - pos_) throw ThriftError("thrift: list size past the data");
        v.list.reserve(n);
        for (uint64_t k = 0; k < n; ++k) v.list.push_back(ReadElement(element, depth + 1));
        break;
      }
      case Type::kMap: {
        const uint64_t n = Varint();
        if (n == 0) break;
        if (n > data_.size() - pos_) throw ThriftError("thrift: map size past the data");
        const uint8_t kv = Byte();
        for (uint64_t k = 0; k < n; ++k) {
          v.list.push_back(ReadElement(static_cast<Type>(kv >> 4), depth + 1));
          v.list.push_back(ReadElement(static_cast<Type>(kv & 0x0f), depth + 1));
        }
        break;
      }
      case Type::kStruct:
        v.fields = std::make_shared<Struct>(ReadStruct(depth + 1));
        break;
      default:
        throw ThriftError("thrift: unknown type code " + std::to_string(static_cast<int>(type)) +
                          " at byte " + std::to_string(pos_));
    }
    return v;
  }

  // An element of a list, set or map. Booleans there are one byte each (1 true, 2 false), not
  // folded into a field header: read as a field's bool they would take no bytes, and a map could
  // claim any number of entries for free.
  Value ReadElement(Type type, int depth) {
    if (type != Type::kTrue && type != Type::kFalse) return ReadValue(type, depth);
    Value b = ReadValue(Type::kTrue, depth);  // counts the value
    b.i = Byte() == 1 ? 1 : 0;
    return b;
  }

  Struct ReadStruct(int depth) {
    Struct s;
    int16_t last = 0;
    while (true) {
      const uint8_t h = Byte();
      const Type type = static_cast<Type>(h & 0x0f);
      if (type == Type::kStop) return s;
      const int delta = h >> 4;
      const int16_t id =
          delta != 0 ? static_cast<int16_t>(last + delta) : static_cast<int16_t>(ZigZag());
      last = id;
      s[id] = ReadValue(type, depth);
    }
  }

 private:
  std::string_view data_;
  size_t pos_;
  uint64_t values_left_;
};

const char* TypeName(Type t) {
  switch (t) {
    case Type::kTrue:
    case Type::kFalse:
      return "bool";
    case Type::kByte:
    case Type::kI16:
    case Type::kI32:
    case Type::kI64:
      return "integer";
    case Type::kDouble:
      return "double";
    case Type::kBinary:
      return "binary";
    case Type::kList:
    case Type::kSet:
      return "list";
    case Type::kMap:
      return "map";
    case Type::kStruct:
      return "struct";
    default:
      return "none";
  }
}

[[noreturn]] void Mismatch(const char* what, const char* want, Type got) {
  throw ThriftError(std::string(what) + ": expected a " + want + ", found a " + TypeName(got));
}

}  // namespace

int64_t Value::Int(const char* what) const {
  switch (type) {
    case Type::kTrue:
    case Type::kFalse:
    case Type::kByte:
    case Type::kI16:
    case Type::kI32:
    case Type::kI64:
      return i;
    default:
      Mismatch(what, "integer", type);
  }
}

const std::string& Value::Str(const char* what) const {
  if (type != Type::kBinary) Mismatch(what, "binary", type);
  return s;
}

const std::vector<Value>& Value::List(const char* what) const {
  if (type != Type::kList && type != Type::kSet) Mismatch(what, "list", type);
  return list;
}

const Struct& Value::Fields(const char* what) const {
  if (type != Type::kStruct || !fields) Mismatch(what, "struct", type);
  return *fields;
}

const Value& Get(const Struct& s, int16_t id, const char* what) {
  auto it = s.find(id);
  if (it == s.end()) throw ThriftError(std::string(what) + ": required field is missing");
  return it->second;
}

const Value* Find(const Struct& s, int16_t id) {
  auto it = s.find(id);
  return it == s.end() ? nullptr : &it->second;
}

Struct DecodeStruct(std::string_view data, size_t* offset, uint64_t max_values) {
  Reader r(data, *offset, max_values);
  Struct s = r.ReadStruct(0);
  *offset = r.pos();
  return s;
}

// ----- Encoder ------------------------------------------------------------------------------

void Encoder::Varint(uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<char>(v));
}

void Encoder::ZigZag(int64_t v) {
  Varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}

void Encoder::FieldHeader(int16_t id, Type type) {
  const int delta = id - last_id_.back();
  if (delta > 0 && delta <= 15) {
    out_.push_back(static_cast<char>((delta << 4) | static_cast<int>(type)));
  } else {
    out_.push_back(static_cast<char>(type));
    ZigZag(id);
  }
  last_id_.back() = id;
}

void Encoder::ListHeader(size_t n, Type element) {
  if (n < 15) {
    out_.push_back(static_cast<char>((n << 4) | static_cast<int>(element)));
  } else {
    out_.push_back(static_cast<char>(0xf0 | static_cast<int>(element)));
    Varint(n);
  }
}

void Encoder::I32(int16_t id, int32_t v) {
  FieldHeader(id, Type::kI32);
  ZigZag(v);
}

void Encoder::I64(int16_t id, int64_t v) {
  FieldHeader(id, Type::kI64);
  ZigZag(v);
}

void Encoder::Bool(int16_t id, bool v) { FieldHeader(id, v ? Type::kTrue : Type::kFalse); }

void Encoder::Binary(int16_t id, std::string_view v) {
  FieldHeader(id, Type::kBinary);
  Varint(v.size());
  out_.append(v);
}

void Encoder::BeginStruct(int16_t id) {
  FieldHeader(id, Type::kStruct);
  last_id_.push_back(0);
}

void Encoder::EndStruct() {
  out_.push_back(static_cast<char>(Type::kStop));
  last_id_.pop_back();
}

void Encoder::I32List(int16_t id, const std::vector<int32_t>& v) {
  FieldHeader(id, Type::kList);
  ListHeader(v.size(), Type::kI32);
  for (int32_t x : v) ZigZag(x);
}

void Encoder::BinaryList(int16_t id, const std::vector<std::string>& v) {
  FieldHeader(id, Type::kList);
  ListHeader(v.size(), Type::kBinary);
  for (const auto& x : v) {
    Varint(x.size());
    out_.append(x);
  }
}

void Encoder::BeginStructList(int16_t id, size_t n) {
  FieldHeader(id, Type::kList);
  ListHeader(n, Type::kStruct);
}

void Encoder::BeginListStruct() { last_id_.push_back(0); }

void Encoder::End() { out_.push_back(static_cast<char>(Type::kStop)); }

}  // namespace bagel::data::thrift
