#include "model/tools/tool_main.h"

#include <c10/util/Exception.h>

#include <iostream>

namespace bagel {

int RunToolMain(const char* tool, const std::function<void()>& body) {
  try {
    body();
    return 0;
  } catch (const c10::Error& e) {
    std::cerr << tool << ": error: " << e.what_without_backtrace() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << tool << ": error: " << e.what() << std::endl;
  }
  return 1;
}

at::ScalarType ParseDtype(const std::string& text) {
  if (text == "fp32" || text == "float32") return at::kFloat;
  if (text == "bf16" || text == "bfloat16") return at::kBFloat16;
  TORCH_CHECK(false, "--dtype must be fp32 or bf16, got '", text, "'");
}

}  // namespace bagel
