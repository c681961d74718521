// Compares output tensors with a reference case's expected ones, exactly as
// the official compare.py does: element-wise |got - want| <= atol + rtol * |want| in
// float64, equal infinities match; for training cases an "outliers" allowance lets a tiny
// fraction of parameter elements differ by a larger bound.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

namespace bagel::testing {

struct Tolerance {
  double rtol = 1e-4;
  double atol = 1e-5;
};

struct OutlierAllowance {
  std::vector<std::string> prefixes;
  double atol = 0;
  double max_fraction = 0;
};

struct TensorReport {
  std::string name;
  bool ok = false;
  double max_abs = 0;
  double rel = 0;       // max |err| / (|want| + atol), compare.py's "rel"
  double norm_rel = 0;  // ||got - want|| / ||want|| (L2 over the tensor)
  std::string note;     // missing, shape mismatch, outliers
};

struct CompareReport {
  bool ok = true;
  double worst_rel = 0;
  std::vector<TensorReport> tensors;
  std::string Text(const std::string& case_name) const;  // compare.py's lines
};

CompareReport CompareTensors(const std::map<std::string, at::Tensor>& expected,
                             const std::map<std::string, at::Tensor>& got, const Tolerance& tol,
                             const OutlierAllowance* outliers = nullptr);

// The looser check for reduced-precision runs (bf16): each tensor passes when
// ||got - want|| / ||want|| <= norm_rtol, where element-wise bounds are meaningless for entries
// near zero.
CompareReport CompareTensorsByNorm(const std::map<std::string, at::Tensor>& expected,
                                   const std::map<std::string, at::Tensor>& got, double norm_rtol);

// Reads tolerance and outliers from a case.json.
Tolerance ReadTolerance(const std::string& case_json_path, OutlierAllowance* outliers = nullptr);

}  // namespace bagel::testing
