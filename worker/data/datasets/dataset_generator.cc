#include "worker/data/datasets/dataset_generator.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <vector>

#include "imaging/image_decode.h"
#include "imaging/image_encode.h"
#include "imaging/pil_bicubic_resize.h"
#include "worker/data/parquet/parquet_writer.h"

namespace bagel::data {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Color {
  const char* name;
  uint8_t r, g, b;
};
constexpr Color kColors[] = {{"red", 220, 30, 30},     {"green", 30, 180, 60},
                             {"blue", 40, 60, 220},    {"yellow", 240, 220, 40},
                             {"purple", 140, 50, 170}, {"orange", 250, 140, 20},
                             {"white", 245, 245, 245}, {"black", 15, 15, 15}};
constexpr const char* kShapes[] = {"square", "circle"};
constexpr const char* kPlaces[] = {"on the left", "in the middle", "on the right"};

// The photographs fetch_photos.sh gathers (scikit-image's sample data) and what they show.
constexpr std::pair<const char*, const char*> kPhotoSubjects[] = {
    {"astronaut", "an astronaut"},
    {"chelsea", "a cat"},
    {"coffee", "a cup of coffee"},
    {"motorcycle_left", "a motorcycle"},
    {"rocket", "a rocket"}};

struct Photo {
  imaging::RgbImage pixels;
  std::string subject;
};

struct Scene {
  int color = 0, background = 0, shape = 0, place = 0;
  const Photo* photo = nullptr;  // drawn over a crop of this photograph
  std::string Caption() const {
    return std::string("a ") + kColors[color].name + " " + kShapes[shape] + " " + kPlaces[place] +
           (photo ? " over a photograph of " + photo->subject
                  : std::string(" on a ") + kColors[background].name + " background");
  }
};

class Generator {
 public:
  explicit Generator(const DatasetGeneratorOptions& o) : o_(o), rng_(o.seed) {
    if (!o.photos_dir.empty()) {
      // The known photographs when the folder has them (a scikit-image data folder also holds
      // test patterns), else every picture in it.
      std::vector<fs::path> files, known;
      for (const auto& e : fs::directory_iterator(o.photos_dir)) {
        const std::string ext = e.path().extension().string();
        if (ext != ".jpg" && ext != ".jpeg" && ext != ".png") continue;
        files.push_back(e.path());
        for (const auto& [stem, subject] : kPhotoSubjects) {
          if (e.path().stem() == stem) known.push_back(e.path());
        }
      }
      std::vector<fs::path>& use = known.empty() ? files : known;
      std::sort(use.begin(), use.end());
      if (use.empty()) throw std::runtime_error(o.photos_dir + ": no *.jpg or *.png photo");
      for (const fs::path& f : use) {
        std::string subject = "a " + f.stem().string();
        for (const auto& [stem, s] : kPhotoSubjects) {
          if (f.stem() == stem) subject = s;
        }
        photos_.push_back({imaging::DecodeImageFile(f.string()), subject});
      }
    }
  }

  int64_t Uniform(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }

  Scene RandomScene() {
    Scene s;
    s.color = static_cast<int>(Uniform(0, 7));
    do {
      s.background = static_cast<int>(Uniform(0, 7));
    } while (s.background == s.color);
    s.shape = static_cast<int>(Uniform(0, 1));
    s.place = static_cast<int>(Uniform(0, 2));
    if (!photos_.empty()) s.photo = &photos_[Uniform(0, static_cast<int64_t>(photos_.size()) - 1)];
    return s;
  }

  imaging::RgbImage Draw(const Scene& s) {
    const int64_t h = Uniform(o_.min_side, o_.max_side), w = Uniform(o_.min_side, o_.max_side);
    imaging::RgbImage img(h, w);
    if (s.photo) {
      // A random crop of the photograph with the picture's aspect, scaled to its size.
      const imaging::RgbImage& p = s.photo->pixels;
      const double fit =
          std::min(static_cast<double>(p.height) / h, static_cast<double>(p.width) / w);
      const double scale = fit * (0.5 + 0.5 * Uniform(0, 1000) / 1000.0);
      const int64_t ch = std::max<int64_t>(1, static_cast<int64_t>(h * scale));
      const int64_t cw = std::max<int64_t>(1, static_cast<int64_t>(w * scale));
      const int64_t y0 = Uniform(0, p.height - ch), x0 = Uniform(0, p.width - cw);
      imaging::RgbImage crop(ch, cw);
      for (int64_t y = 0; y < ch; ++y) {
        std::copy_n(p.row(y0 + y) + 3 * x0, 3 * cw, crop.row(y));
      }
      img = imaging::ResizeBicubicLikePil(crop, h, w);
    }
    const Color& fg = kColors[s.color];
    const Color& bg = kColors[s.background];
    const int64_t side = std::min(h, w) / 2;
    const int64_t cx = (w / 6) * (1 + 2 * s.place), cy = h / 2;
    for (int64_t y = 0; y < h; ++y) {
      uint8_t* row = img.row(y);
      for (int64_t x = 0; x < w; ++x) {
        const int64_t dx = x - cx, dy = y - cy;
        const bool inside = s.shape == 0 ? std::abs(dx) <= side / 2 && std::abs(dy) <= side / 2
                                         : dx * dx + dy * dy <= side * side / 4;
        const int noise = static_cast<int>(Uniform(-12, 12));
        if (inside) {
          row[3 * x] = Clip(fg.r + noise);
          row[3 * x + 1] = Clip(fg.g + noise);
          row[3 * x + 2] = Clip(fg.b + noise);
        } else if (!s.photo) {
          row[3 * x] = Clip(bg.r + noise);
          row[3 * x + 1] = Clip(bg.g + noise);
          row[3 * x + 2] = Clip(bg.b + noise);
        }
      }
    }
    return img;
  }

  std::string Encode(const imaging::RgbImage& img) {
    return Uniform(0, 1) == 0 ? imaging::EncodeJpeg(img, 90) : imaging::EncodePng(img);
  }

 private:
  static uint8_t Clip(int v) { return static_cast<uint8_t>(std::clamp(v, 0, 255)); }

  const DatasetGeneratorOptions& o_;
  std::mt19937_64 rng_;
  std::vector<Photo> photos_;
};

void WriteFile(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

json Turn(const std::string& from, const std::string& value) {
  return {{"from", from}, {"value", value}};
}

}  // namespace

std::string FindPhotographs(const std::string& build_dir) {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("BAGEL_PHOTOS_DIR"); env && *env) candidates.emplace_back(env);
  if (!build_dir.empty()) candidates.push_back(fs::path(build_dir) / "photos");
  candidates.emplace_back("/usr/lib/python3/dist-packages/skimage/data");
  for (const fs::path& dir : candidates) {
    for (const auto& [stem, subject] : kPhotoSubjects) {
      std::error_code ec;
      if (fs::exists(dir / (std::string(stem) + ".png"), ec) ||
          fs::exists(dir / (std::string(stem) + ".jpg"), ec)) {
        return dir.string();
      }
    }
  }
  return "";
}

GeneratedDataset GenerateDatasets(const DatasetGeneratorOptions& o) {
  Generator gen(o);
  const fs::path root(o.out_dir);
  GeneratedDataset out;
  fs::create_directories(root / "vlm" / "images");
  fs::create_directories(root / "text");
  fs::create_directories(root / "t2i");
  fs::create_directories(root / "edit");
  out.vlm_jsonl = (root / "vlm" / "train.jsonl").string();
  out.vlm_images = (root / "vlm").string();
  out.text_jsonl = (root / "text" / "train.jsonl").string();
  out.t2i_dir = (root / "t2i").string();
  out.edit_dir = (root / "edit").string();
  out.edit_parquet_info = (root / "edit" / "parquet_info.json").string();
  out.data_yaml = (root / "data.yaml").string();

  // VLM SFT: one or two pictures, a question per picture, the answer naming what is there.
  {
    std::ofstream lines(out.vlm_jsonl);
    for (int64_t i = 0; i < o.vlm_samples; ++i) {
      const int n = gen.Uniform(0, 3) == 0 ? 2 : 1;
      json images = json::array();
      std::string answer;
      for (int k = 0; k < n; ++k) {
        const Scene s = gen.RandomScene();
        const std::string bytes = gen.Encode(gen.Draw(s));
        const std::string name = "images/" + std::to_string(i) + "_" + std::to_string(k) +
                                 (bytes[0] == '\xff' ? ".jpg" : ".png");
        WriteFile(root / "vlm" / name, bytes);
        images.push_back(name);
        answer += (k ? " The second picture shows " : "The picture shows ") + s.Caption() + ".";
      }
      json record;
      record["image"] = n == 1 ? images[0] : images;
      record["conversations"] =
          json::array({Turn("human", n == 1 ? "<image>\nWhat is in this picture?"
                                            : "<image>\n<image>\nDescribe both pictures."),
                       Turn("gpt", answer)});
      lines << record.dump() << "\n";
    }
    if (o.bad_data) {
      lines << "{\"image\": \"images/0_0.png\", \"conversations\": [ this is not JSON\n";
      lines << json{{"image", "images/does_not_exist.png"},
                    {"conversations",
                     {Turn("human", "<image>\nWhat is this?"), Turn("gpt", "Nothing.")}}}
                   .dump()
            << "\n";
      WriteFile(root / "vlm" / "images" / "corrupt.jpg",
                std::string("\xff\xd8\xff\xe0 broken", 11));
      lines << json{{"image", "images/corrupt.jpg"},
                    {"conversations",
                     {Turn("human", "<image>\nWhat is this?"), Turn("gpt", "Broken.")}}}
                   .dump()
            << "\n";
      std::string essay;
      for (int k = 0; k < 3000; ++k) essay += "very long answer ";
      lines
          << json{{"conversations", {Turn("human", "Talk at length."), Turn("gpt", essay)}}}.dump()
          << "\n";
    }
  }
  // Text only: counting and colour questions.
  {
    std::ofstream lines(out.text_jsonl);
    for (int64_t i = 0; i < o.text_samples; ++i) {
      const int64_t a = gen.Uniform(1, 50), b = gen.Uniform(1, 50);
      lines << json{{"conversations",
                     {Turn("human",
                           "What is " + std::to_string(a) + " plus " + std::to_string(b) + "?"),
                      Turn("gpt", std::to_string(a) + " plus " + std::to_string(b) + " is " +
                                      std::to_string(a + b) + ".")}}}
                   .dump()
            << "\n";
    }
  }
  // T2I parquet: image + captions.
  for (int64_t f = 0; f < o.t2i_files; ++f) {
    std::vector<parquet::Row> rows;
    for (int64_t r = 0; r < o.t2i_rows_per_file; ++r) {
      const Scene s = gen.RandomScene();
      parquet::Row row(2);
      row[0].scalar = gen.Encode(gen.Draw(s));
      if (o.bad_data && f == 0 && r == 1) row[0].scalar = "not an image";
      row[1].scalar = json{{"caption", s.Caption()},
                           {"short", std::string(kColors[s.color].name) + " " + kShapes[s.shape]}}
                          .dump();
      rows.push_back(std::move(row));
    }
    char name[48];
    std::snprintf(name, sizeof name, "part-%05lld.parquet", static_cast<long long>(f));
    parquet::WriteParquet(
        (root / "t2i" / name).string(),
        {{"image", parquet::ColumnKind::kBinary}, {"captions", parquet::ColumnKind::kString}}, rows,
        o.rows_per_group);
  }
  // Edit parquet: a chain of 2-3 pictures, each step changing the shape's colour.
  json info = json::object();
  for (int64_t f = 0; f < o.edit_files; ++f) {
    std::vector<parquet::Row> rows;
    for (int64_t r = 0; r < o.edit_rows_per_file; ++r) {
      Scene s = gen.RandomScene();
      parquet::Row row(2);
      const int64_t n = gen.Uniform(2, 3);
      row[0].list.push_back(gen.Encode(gen.Draw(s)));
      for (int64_t k = 1; k < n; ++k) {
        int c;
        do {
          c = static_cast<int>(gen.Uniform(0, 7));
        } while (c == s.color || c == s.background);
        s.color = c;
        row[0].list.push_back(gen.Encode(gen.Draw(s)));
        row[1].lists.push_back({std::string("make the ") + kShapes[s.shape] + " " + kColors[c].name,
                                std::string("change the colour of the ") + kShapes[s.shape] +
                                    " to " + kColors[c].name});
      }
      rows.push_back(std::move(row));
    }
    char name[48];
    std::snprintf(name, sizeof name, "part-%05lld.parquet", static_cast<long long>(f));
    const std::string path = (root / "edit" / name).string();
    parquet::WriteParquet(path,
                          {{"image_list", parquet::ColumnKind::kBinaryList},
                           {"instruction_list", parquet::ColumnKind::kStringListList}},
                          rows, o.rows_per_group);
    info[path] = {
        {"num_row_groups", (o.edit_rows_per_file + o.rows_per_group - 1) / o.rows_per_group}};
  }
  WriteFile(out.edit_parquet_info, info.dump(2) + "\n");

  std::ofstream yaml(out.data_yaml);
  yaml << "# Data groups for the generated datasets (bagel-make-dataset); paste under data:\n"
       << "groups:\n"
       << "  - {name: vlm, type: vlm_sft, paths: [" << out.vlm_jsonl
       << "], image_root: " << out.vlm_images << ", weight: 2}\n"
       << "  - {name: text, type: text, paths: [" << out.text_jsonl << "], weight: 1}\n"
       << "  - {name: t2i, type: t2i, paths: [" << out.t2i_dir << "], weight: 2}\n"
       << "  - {name: edit, type: edit, paths: [" << out.edit_dir
       << "], parquet_info: " << out.edit_parquet_info << ", weight: 1}\n";
  if (!yaml) throw std::runtime_error("cannot write " + out.data_yaml);
  return out;
}

}  // namespace bagel::data
