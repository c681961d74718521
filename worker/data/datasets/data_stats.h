// What the data pipeline has done: batches, samples and tokens packed, and records skipped by
// reason (the kSkip* names of sample_builders.h) -- the counters the trainer reports.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace bagel::data {

struct DataStats {
  int64_t batches = 0;
  int64_t samples = 0;
  int64_t tokens = 0;
  std::map<std::string, int64_t> skipped;

  void Add(const DataStats& other) {
    batches += other.batches;
    samples += other.samples;
    tokens += other.tokens;
    for (const auto& [k, v] : other.skipped) skipped[k] += v;
  }
  int64_t total_skipped() const {
    int64_t n = 0;
    for (const auto& [k, v] : skipped) n += v;
    return n;
  }
  nlohmann::json ToJson() const {
    return {{"batches", batches}, {"samples", samples}, {"tokens", tokens}, {"skipped", skipped}};
  }
};

}  // namespace bagel::data
