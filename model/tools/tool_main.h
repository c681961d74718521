// The error boundary of every command-line tool: c10::Error and std::exception become one clear
// line on stderr ("<tool>: error: ...") and exit status 1.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <string>

namespace bagel {

int RunToolMain(const char* tool, const std::function<void()>& body);

// "fp32" / "float32" -> kFloat, "bf16" / "bfloat16" -> kBFloat16; throws otherwise.
at::ScalarType ParseDtype(const std::string& text);

}  // namespace bagel
