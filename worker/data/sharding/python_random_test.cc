#include "worker/data/sharding/python_random.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <numeric>

#include "testing/reference_data.h"

namespace bagel::data {
namespace {

// getrandbits, _randbelow and shuffle against CPython 3's random.Random for several seeds
// (small, the official 42, above 2^32) and list lengths.
TEST(PythonRandom, MatchesCPython) {
  const auto cases = nlohmann::json::parse(
      bagel::testing::ReadFileBytes(bagel::testing::ReferencePath("python_random.json")));
  ASSERT_FALSE(cases.empty());
  for (const auto& c : cases) {
    const uint64_t seed = c["seed"].get<uint64_t>();
    SCOPED_TRACE(seed);
    PythonRandom r(seed);
    const auto& bits = c["getrandbits"];
    for (int k = 0; k < 4; ++k) EXPECT_EQ(r.GetRandBits(32), bits[k].get<uint64_t>());
    EXPECT_EQ(r.GetRandBits(64), bits[4].get<uint64_t>());
    for (const auto& [n, expected] : c["shuffle"].items()) {
      std::vector<int64_t> items(std::stoul(n));
      std::iota(items.begin(), items.end(), 0);
      PythonRandom s(seed);
      s.Shuffle(items);
      EXPECT_EQ(items, expected.get<std::vector<int64_t>>()) << "n=" << n;
    }
    PythonRandom b(seed);
    const std::vector<uint64_t> ns = {1, 3, 10, 1000, 1ull << 31, 1ull << 33};
    for (size_t i = 0; i < ns.size(); ++i) {
      EXPECT_EQ(b.RandBelow(ns[i]), c["randbelow"][i].get<uint64_t>()) << "n=" << ns[i];
    }
  }
}

}  // namespace
}  // namespace bagel::data
