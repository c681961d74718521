// bagel-forward: runs the BAGEL training forward on a reference batch and writes its outputs
// (tests/golden/README.md, "The command that checks a case"). A batch holding vae.image /
// vae.latent runs the FLUX VAE of checkpoint/ae.safetensors instead (vae.latent_mean,
// vae.decoded); with --infer CASE_JSON the batch is an inference case (latent + image, or ids +
// first_logits).
//
//   bagel-forward --checkpoint DIR --batch FILE --out OUT.safetensors [--stage 1|2]
//                 [--grad KEY]... [--infer CASE_JSON] [--device cpu|cuda] [--dtype fp32|bf16]
//                 [--threads N]
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "model/config/stage.h"
#include "model/io/safetensors.h"
#include "model/tools/forward_case.h"
#include "model/tools/tool_main.h"

int main(int argc, char** argv) {
  CLI::App app{"Run the BAGEL forward (and backward) on a packed batch file"};
  std::string checkpoint, batch, out, stage, device = "cpu", dtype = "fp32", infer;
  std::vector<std::string> grads;
  int threads = 0;
  bool grouped_routing = false;
  app.add_option("--checkpoint", checkpoint, "HF-layout checkpoint directory")->required();
  app.add_option("--batch", batch, "batch.safetensors")->required();
  app.add_option("--out", out, "output safetensors")->required();
  app.add_option("--stage", stage, "1 or 2 (default: config.json's visual_gen)");
  app.add_option("--grad", grads, "checkpoint key whose gradient to write (repeatable)");
  app.add_option("--device", device, "cpu or cuda[:i]");
  app.add_option("--dtype", dtype, "fp32 or bf16");
  app.add_option("--threads", threads, "intra-op threads (default: torch's)");
  app.add_option("--infer", infer, "case.json of an inference case");
  app.add_flag("--grouped-routing", grouped_routing,
               "MoT routing with one permutation per forward (same result)");
  CLI11_PARSE(app, argc, argv);
  return bagel::RunToolMain("bagel-forward", [&] {
    if (threads > 0) at::set_num_threads(threads);
    bagel::ForwardCaseOptions options;
    if (!stage.empty()) options.stage = bagel::ParseStage(stage);
    options.grad_keys = grads;
    options.device = device;
    options.dtype = bagel::ParseDtype(dtype);
    options.infer_case = infer;
    options.grouped_routing = grouped_routing;
    bagel::io::WriteSafetensors(out, bagel::RunForwardCase(checkpoint, batch, options));
  });
}
