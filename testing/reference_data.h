// Where the tests find the reference data of the image and data pipelines (tests/data/reference,
// written by tests/data/make_data_references.py with Pillow, CPython's random and pyarrow), the
// real Qwen2 vocabulary of the reference cases, and a helper to read a file whole.
#pragma once

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "testing/golden_dir.h"

namespace bagel::testing {

inline std::string ReferenceDir() {
#ifdef BAGEL_DATA_REFERENCE_DIR
  return BAGEL_DATA_REFERENCE_DIR;
#else
  return "tests/data/reference";
#endif
}

inline std::string ReferencePath(const std::string& name) { return ReferenceDir() + "/" + name; }

inline std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The real Qwen2 vocabulary of the reference cases (tests/golden/tokenizer).
inline std::string GoldenTokenizerDir() { return (GoldenDir() / "tokenizer").string(); }

}  // namespace bagel::testing
