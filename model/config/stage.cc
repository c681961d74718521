#include "model/config/stage.h"

#include <c10/util/Exception.h>

namespace bagel {

int NormalizeStage(const StageValue& stage) {
  if (const int* n = std::get_if<int>(&stage)) {
    TORCH_CHECK(*n == 1 || *n == 2, "stage must be 1 or 2 (or \"stage1\"/\"stage2\"), got ", *n);
    return *n;
  }
  const std::string& s = std::get<std::string>(stage);
  if (s == "stage1") return 1;
  if (s == "stage2") return 2;
  TORCH_CHECK(false, "stage must be 1, 2, \"stage1\" or \"stage2\", got \"", s, "\"");
}

int ParseStage(const std::string& text) {
  if (text == "1") return 1;
  if (text == "2") return 2;
  return NormalizeStage(text);
}

}  // namespace bagel
