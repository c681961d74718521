#include "service/metrics/metric_def.h"

#include <ostream>

#include "absl/strings/str_split.h"

namespace bagel::metrics {

const char* TypeName(prometheus::MetricType type) {
  switch (type) {
    case prometheus::MetricType::Counter:
      return "counter";
    case prometheus::MetricType::Gauge:
      return "gauge";
    case prometheus::MetricType::Histogram:
      return "histogram";
    case prometheus::MetricType::Summary:
      return "summary";
    default:
      return "untyped";
  }
}

void PrintCatalogue(std::ostream& out, const std::vector<MetricDef>& defs) {
  for (const auto& d : defs) {
    out << d.name << '\t' << TypeName(d.type) << '\t' << d.labels << '\t' << d.help << '\n';
  }
}

std::vector<std::string> LabelNames(const MetricDef& def) {
  std::vector<std::string> out;
  if (*def.labels == '\0') return out;
  for (auto part : absl::StrSplit(def.labels, ',')) out.emplace_back(part);
  return out;
}

prometheus::MetricFamily EmptyFamily(const MetricDef& def) {
  prometheus::MetricFamily f;
  f.name = def.name;
  f.help = def.help;
  f.type = def.type;
  return f;
}

void AddSample(prometheus::MetricFamily& family, const std::vector<std::string>& label_values,
               double value, const MetricDef& def) {
  const auto names = LabelNames(def);
  prometheus::ClientMetric m;
  for (size_t i = 0; i < names.size() && i < label_values.size(); ++i) {
    m.label.push_back({names[i], label_values[i].substr(0, 128)});
  }
  if (family.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  family.metric.push_back(std::move(m));
}

}  // namespace bagel::metrics
