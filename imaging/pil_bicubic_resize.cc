#include "imaging/pil_bicubic_resize.h"

#include <stdexcept>
#include <string>

#include <algorithm>
#include <cmath>
#include <vector>

namespace bagel::imaging {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr double kSupport = 2.0;

double Bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// The taps of one pass: for output pixel i, `count[i]` input pixels from `first[i]` with the
// fixed-point weights weights[i * ksize + k].
struct Taps {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;
};

// PIL's precompute_coeffs + normalize_coeffs_8bpc for the box [0, in_size).
Taps ComputeTaps(int64_t in_size, int64_t out_size) {
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filterscale = std::max(scale, 1.0);
  const double support = kSupport * filterscale;
  Taps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.weights.assign(static_cast<size_t>(out_size) * t.ksize, 0);
  std::vector<double> k(t.ksize);
  for (int64_t xx = 0; xx < out_size; ++xx) {
    const double center = 0.0 + (static_cast<double>(xx) + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    // C's (int) conversion truncates toward zero; PIL clamps afterwards.
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = static_cast<int>(in_size);
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = Bicubic((static_cast<double>(x + xmin) - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
    }
    for (int x = 0; x < xmax; ++x) {
      const double v = k[x] * (1 << kPrecisionBits);
      t.weights[xx * t.ksize + x] = static_cast<int32_t>(k[x] < 0 ? -0.5 + v : 0.5 + v);
    }
    t.first[xx] = xmin;
    t.count[xx] = xmax;
  }
  return t;
}

inline uint8_t Clip8(int32_t v) {
  v >>= kPrecisionBits;  // arithmetic shift, as PIL's (int) >> on the accumulated sum
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Rows [row0, row0 + out.height) of `in` resampled horizontally into `out`.
void Horizontal(const RgbImage& in, int64_t row0, const Taps& t, RgbImage& out) {
  for (int64_t y = 0; y < out.height; ++y) {
    const uint8_t* src = in.row(row0 + y);
    uint8_t* dst = out.row(y);
    for (int64_t xx = 0; xx < out.width; ++xx) {
      const int32_t* k = &t.weights[xx * t.ksize];
      const int xmin = t.first[xx], n = t.count[xx];
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int x = 0; x < n; ++x) {
        const uint8_t* p = src + 3 * (xmin + x);
        s0 += p[0] * k[x];
        s1 += p[1] * k[x];
        s2 += p[2] * k[x];
      }
      dst[3 * xx] = Clip8(s0);
      dst[3 * xx + 1] = Clip8(s1);
      dst[3 * xx + 2] = Clip8(s2);
    }
  }
}

// Vertical pass; `offset` is subtracted from the taps' first rows (the horizontal pass only
// produced the rows from `offset` on).
void Vertical(const RgbImage& in, const Taps& t, int offset, RgbImage& out) {
  const int64_t w3 = out.width * 3;
  for (int64_t yy = 0; yy < out.height; ++yy) {
    const int32_t* k = &t.weights[yy * t.ksize];
    const int ymin = t.first[yy] - offset, n = t.count[yy];
    uint8_t* dst = out.row(yy);
    for (int64_t c = 0; c < w3; ++c) {
      int32_t s = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < n; ++y) s += in.row(ymin + y)[c] * k[y];
      dst[c] = Clip8(s);
    }
  }
}

}  // namespace

RgbImage ResizeBicubicLikePil(const RgbImage& image, int64_t height, int64_t width) {
  if (height <= 0 || width <= 0 || image.height <= 0 || image.width <= 0) {
    throw std::invalid_argument("resize of a " + std::to_string(image.width) + "x" +
                                std::to_string(image.height) + " image to " +
                                std::to_string(width) + "x" + std::to_string(height));
  }
  const bool need_horizontal = width != image.width;
  const bool need_vertical = height != image.height;
  if (!need_horizontal && !need_vertical) return image;
  const Taps vert = ComputeTaps(image.height, height);
  const int ybox_first = vert.first[0];
  const int ybox_last = vert.first[height - 1] + vert.count[height - 1];
  if (need_horizontal) {
    const Taps horiz = ComputeTaps(image.width, width);
    RgbImage temp(ybox_last - ybox_first, width);
    Horizontal(image, ybox_first, horiz, temp);
    if (!need_vertical) return temp;
    RgbImage out(height, width);
    Vertical(temp, vert, ybox_first, out);
    return out;
  }
  RgbImage out(height, width);
  Vertical(image, vert, 0, out);
  return out;
}

}  // namespace bagel::imaging
