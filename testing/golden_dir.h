// Where the tests find the reference cases: $BAGEL_GOLDEN_DIR, else the build's configured
// BAGEL_GOLDEN_DIR (tests/golden of this checkout, compiled in), so a test binary run by hand
// finds them too instead of skipping.
#pragma once

#include <cstdlib>
#include <filesystem>

namespace bagel::testing {

inline std::filesystem::path GoldenDir() {
  const char* env = std::getenv("BAGEL_GOLDEN_DIR");
  if (env != nullptr && *env != '\0') return env;
#ifdef BAGEL_DEFAULT_GOLDEN_DIR
  return BAGEL_DEFAULT_GOLDEN_DIR;
#else
  return "tests/golden";
#endif
}

}  // namespace bagel::testing
