#include "service/metrics/metric_def.h"

#include <gtest/gtest.h>

#include <sstream>

namespace bagel::metrics {
namespace {

const MetricDef kDef = {"bagel_x_total", prometheus::MetricType::Counter, "An x.", "a,b"};

TEST(MetricDefTest, PrintsOneTabSeparatedLinePerFamily) {
  std::ostringstream out;
  PrintCatalogue(out, {kDef, {"bagel_y", prometheus::MetricType::Gauge, "A y.", ""}});
  EXPECT_EQ(out.str(), "bagel_x_total\tcounter\ta,b\tAn x.\nbagel_y\tgauge\t\tA y.\n");
}

TEST(MetricDefTest, BuildsSamplesWithTheDefinitionsLabels) {
  auto f = EmptyFamily(kDef);
  AddSample(f, {"1", std::string(300, 'v')}, 5, kDef);
  ASSERT_EQ(f.metric.size(), 1u);
  EXPECT_EQ(f.name, "bagel_x_total");
  EXPECT_EQ(f.metric[0].counter.value, 5);
  ASSERT_EQ(f.metric[0].label.size(), 2u);
  EXPECT_EQ(f.metric[0].label[0].name, "a");
  EXPECT_EQ(f.metric[0].label[1].value.size(), 128u);  // cut
  EXPECT_EQ(LabelNames({"n", prometheus::MetricType::Gauge, "h", ""}).size(), 0u);
}

}  // namespace
}  // namespace bagel::metrics
