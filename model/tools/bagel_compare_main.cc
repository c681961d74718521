// bagel-compare: compares a command's output with a reference case, as compare.py does.
//
//   bagel-compare CASE_DIR OUT.safetensors
// Prints one line per tensor and a last line "<case>: worst rel err X ok|FAIL"; exit 1 on FAIL.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "model/io/safetensors.h"
#include "model/testing/tensor_compare.h"
#include "model/tools/tool_main.h"

int main(int argc, char** argv) {
  CLI::App app{"Compare outputs with a reference case's expected.safetensors"};
  std::string case_dir, out;
  double rtol = -1, atol = -1, norm_rtol = -1;
  app.add_option("--norm-rtol", norm_rtol,
                 "pass when ||got - want|| / ||want|| <= this per tensor (reduced-precision runs)");
  app.add_option("--rtol", rtol, "override the case's rtol (e.g. for bf16 runs)");
  app.add_option("--atol", atol, "override the case's atol");
  app.add_option("case", case_dir, "case directory (case.json + expected.safetensors)")->required();
  app.add_option("out", out, "output safetensors")->required();
  CLI11_PARSE(app, argc, argv);
  bool ok = false;
  int rc = bagel::RunToolMain("bagel-compare", [&] {
    namespace fs = std::filesystem;
    bagel::testing::OutlierAllowance outliers;
    auto tol =
        bagel::testing::ReadTolerance((fs::path(case_dir) / "case.json").string(), &outliers);
    auto expected =
        bagel::io::SafetensorsFile::Open((fs::path(case_dir) / "expected.safetensors").string())
            ->ReadAll();
    auto got = bagel::io::SafetensorsFile::Open(out)->ReadAll();
    auto report = norm_rtol >= 0
                      ? bagel::testing::CompareTensorsByNorm(expected, got, norm_rtol)
                      : bagel::testing::CompareTensors(expected, got, tol,
                                                       outliers.prefixes.empty() ? nullptr : &outliers);
    fs::path name(case_dir);
    if (name.filename().empty()) name = name.parent_path();
    std::cout << report.Text(name.filename().string());
    ok = report.ok;
  });
  return rc != 0 ? rc : (ok ? 0 : 1);
}
