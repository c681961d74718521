#include "model/testing/tensor_compare.h"

#include <c10/util/Exception.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace bagel::testing {

CompareReport CompareTensors(const std::map<std::string, at::Tensor>& expected,
                             const std::map<std::string, at::Tensor>& got, const Tolerance& tol,
                             const OutlierAllowance* outliers) {
  CompareReport report;
  int64_t outlier_count = 0, outlier_elements = 0;
  for (const auto& [name, want_raw] : expected) {
    TensorReport r;
    r.name = name;
    auto it = got.find(name);
    if (it == got.end()) {
      r.note = "missing";
      report.ok = false;
      report.tensors.push_back(r);
      continue;
    }
    at::Tensor want = want_raw.to(at::kDouble), g = it->second.to(at::kDouble);
    if (want.sizes() != g.sizes()) {
      std::ostringstream s;
      s << "shape " << g.sizes() << " != " << want.sizes();
      r.note = s.str();
      report.ok = false;
      report.tensors.push_back(r);
      continue;
    }
    at::Tensor err = at::where(g.eq(want), at::zeros_like(g), (g - want).abs());
    err = at::nan_to_num(err, std::numeric_limits<double>::infinity());
    at::Tensor finite_abs = at::where(want.isfinite(), want.abs(), at::zeros_like(want));
    at::Tensor bound = tol.atol + tol.rtol * finite_abs;
    r.max_abs = err.numel() ? err.max().item<double>() : 0.0;
    r.rel = err.numel() ? (err / (finite_abs + tol.atol)).max().item<double>() : 0.0;
    at::Tensor bad = err.gt(bound);
    r.ok = !bad.any().item<bool>();
    bool in_outlier_scope = false;
    if (outliers) {
      for (const auto& p : outliers->prefixes) in_outlier_scope |= name.rfind(p, 0) == 0;
    }
    if (!r.ok && in_outlier_scope) {
      const int64_t n_bad = bad.sum().item<int64_t>();
      outlier_count += n_bad;
      r.ok = !err.gt(outliers->atol).any().item<bool>();
      if (r.ok) r.note = std::to_string(n_bad) + " outliers within allowance";
    }
    if (in_outlier_scope) outlier_elements += err.numel();
    report.worst_rel = std::max(report.worst_rel, r.rel);
    report.ok &= r.ok;
    report.tensors.push_back(r);
  }
  if (outliers && outlier_count > outliers->max_fraction * static_cast<double>(outlier_elements)) {
    report.ok = false;
    report.tensors.push_back(
        {"<outliers>", false, 0, 0, 0, std::to_string(outlier_count) + " outlier elements: too many"});
  }
  return report;
}

CompareReport CompareTensorsByNorm(const std::map<std::string, at::Tensor>& expected,
                                   const std::map<std::string, at::Tensor>& got, double norm_rtol) {
  CompareReport report;
  for (const auto& [name, want_raw] : expected) {
    TensorReport r;
    r.name = name;
    auto it = got.find(name);
    if (it == got.end() || it->second.sizes() != want_raw.sizes()) {
      r.note = it == got.end() ? "missing" : "shape mismatch";
      report.ok = false;
      report.tensors.push_back(r);
      continue;
    }
    at::Tensor want = want_raw.to(at::kDouble), g = it->second.to(at::kDouble);
    at::Tensor finite = want.isfinite();
    at::Tensor diff = at::where(finite, g - want, at::zeros_like(want));
    const double denom = at::where(finite, want, at::zeros_like(want)).norm().item<double>();
    r.max_abs = diff.numel() ? diff.abs().max().item<double>() : 0.0;
    r.norm_rel = diff.norm().item<double>() / std::max(denom, 1e-30);
    r.rel = r.norm_rel;
    r.ok = r.norm_rel <= norm_rtol && g.eq(want).logical_or(finite).all().item<bool>();
    report.worst_rel = std::max(report.worst_rel, r.norm_rel);
    report.ok &= r.ok;
    report.tensors.push_back(r);
  }
  return report;
}

std::string CompareReport::Text(const std::string& case_name) const {
  std::ostringstream out;
  char line[256];
  for (const auto& t : tensors) {
    if (!t.note.empty() &&
        (t.note == "missing" || t.note.rfind("shape", 0) == 0 || t.name == "<outliers>")) {
      out << t.name << ": " << t.note << "\n";
      continue;
    }
    std::snprintf(line, sizeof(line), "%s: max abs %.3e rel %.3e %s%s%s\n", t.name.c_str(),
                  t.max_abs, t.rel, t.ok ? "ok" : "FAIL", t.note.empty() ? "" : " (",
                  t.note.empty() ? "" : (t.note + ")").c_str());
    out << line;
  }
  std::snprintf(line, sizeof(line), "%s: worst rel err %.3e %s\n", case_name.c_str(), worst_rel,
                ok ? "ok" : "FAIL");
  out << line;
  return out.str();
}

Tolerance ReadTolerance(const std::string& path, OutlierAllowance* outliers) {
  std::ifstream in(path);
  TORCH_CHECK(in, path, ": cannot open");
  nlohmann::json spec = nlohmann::json::parse(in);
  Tolerance tol;
  if (spec.contains("tolerance")) {
    tol.rtol = spec["tolerance"].value("rtol", tol.rtol);
    tol.atol = spec["tolerance"].value("atol", tol.atol);
  }
  if (outliers && spec.contains("outliers")) {
    const auto& o = spec["outliers"];
    outliers->prefixes = o.value("prefixes", std::vector<std::string>{});
    outliers->atol = o.value("atol", 0.0);
    outliers->max_fraction = o.value("max_fraction", 0.0);
  }
  return tol;
}

}  // namespace bagel::testing
