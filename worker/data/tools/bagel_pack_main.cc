// bagel-pack: the packer's checking command (tests/golden/README.md, "Packing cases").
//
//   bagel-pack --samples <case>/pack/samples.json --out OUT.safetensors
//
// Reads the samples (sequence plans, text ids, the images.safetensors beside the file), packs
// them into one sequence exactly as the official PackedDataset.pack_sequence + to_tensor do,
// with the timesteps of `vae_timesteps` instead of random draws, and writes every packed tensor
// (the batch fields except padded_latent / noise / dense masks, plus padded_images). Exit 0 on
// success; on bad input one line naming the file and field, exit 1.
#include <CLI/CLI.hpp>

#include "model/io/safetensors.h"
#include "model/tools/tool_main.h"
#include "worker/data/pack_samples_file.h"

int main(int argc, char** argv) {
  CLI::App app{"Pack a reference case's samples into one sequence (BAGEL.md §2.3, §3.5)"};
  std::string samples, out;
  app.add_option("--samples", samples, "pack/samples.json (images.safetensors beside it)")
      ->required();
  app.add_option("--out", out, "output safetensors")->required();
  CLI11_PARSE(app, argc, argv);
  return bagel::RunToolMain("bagel-pack", [&] {
    const auto file = bagel::data::ReadPackSamplesFile(samples);
    const auto packed = bagel::data::PackSamplesFileContents(file);
    bagel::io::WriteSafetensors(out, bagel::data::PackedLayoutTensors(packed));
  });
}
