// One exported metric family described once: its name, type, help text and label names. The
// exporters build their families from these descriptions, and `--metric-catalogue` prints them,
// so the tests can check a scrape, the dashboard and the alert rules against what the code
// exports (docs/METRICS.md).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

namespace bagel::metrics {

struct MetricDef {
  const char* name;
  prometheus::MetricType type;  // Counter, Gauge or Histogram
  const char* help;
  const char* labels;  // label names, comma-separated; "" for none
};

// "counter", "gauge", "histogram", as the text exposition format writes them.
const char* TypeName(prometheus::MetricType type);

// One line per family: name, type, labels and help, separated by tabs.
void PrintCatalogue(std::ostream& out, const std::vector<MetricDef>& defs);

// An empty family for `def` (samples added with AddSample).
prometheus::MetricFamily EmptyFamily(const MetricDef& def);

// Appends a counter or gauge sample (by the family's type) with these label values, given in the
// order of the definition's label names. Label values longer than 128 bytes are cut.
void AddSample(prometheus::MetricFamily& family, const std::vector<std::string>& label_values,
               double value, const MetricDef& def);

// The definition's label names, split.
std::vector<std::string> LabelNames(const MetricDef& def);

}  // namespace bagel::metrics
