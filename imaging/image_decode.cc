#include "imaging/image_decode.h"

#include <png.h>
#include <stdio.h>  // jpeglib.h needs FILE and size_t first

#include <jpeglib.h>

#include <csetjmp>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

namespace bagel::imaging {
namespace {

// PIL's DIV255: (v + 128 + ((v + 128) >> 8)) >> 8, exact division by 255 with rounding.
inline uint8_t Div255(uint32_t v) {
  const uint32_t t = v + 128;
  return static_cast<uint8_t>(((t >> 8) + t) >> 8);
}

// pil_img2rgb's white.paste(image, mask=alpha): BLEND(a, 255, c).
inline uint8_t OnWhite(uint8_t c, uint8_t a) {
  return Div255(255u * (255u - a) + static_cast<uint32_t>(c) * a);
}

void CheckSize(int64_t height, int64_t width, const std::string& what) {
  if (height <= 0 || width <= 0) throw ImageDecodeError(what + ": image has no pixels");
  if (height * width > kMaxImagePixels) {
    throw ImageDecodeError(what + ": image of " + std::to_string(width) + "x" +
                           std::to_string(height) + " pixels exceeds the limit of " +
                           std::to_string(kMaxImagePixels));
  }
}

// ----- JPEG ---------------------------------------------------------------------------------

struct JpegErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void JpegErrorExit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (a truncated file among them) are not errors: the decoder goes on as PIL's does.
void JpegEmitMessage(j_common_ptr, int) {}

// PIL's cmyk2rgb: nk = 255 - k; out = clip(nk - nk * c / 255).
inline uint8_t CmykChannel(uint8_t c, uint8_t k) {
  const int nk = 255 - k;
  const int t = c * nk + 128;
  const int mul = ((t >> 8) + t) >> 8;
  const int v = nk - mul;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

RgbImage DecodeJpeg(std::string_view bytes, const std::string& what) {
  jpeg_decompress_struct cinfo;
  JpegErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = JpegErrorExit;
  err.pub.emit_message = JpegEmitMessage;
  // Everything changed after setjmp lives on the heap, behind a pointer that is not changed:
  // a local object modified after setjmp has an indeterminate value once longjmp returns there
  // (its destructor would then run on stale members).
  struct Buffers {
    RgbImage image;
    std::vector<uint8_t> scanline;
  };
  const auto held = std::make_unique<Buffers>();
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw ImageDecodeError(what + ": not a decodable JPEG (" + err.message + ")");
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  const int components = cinfo.num_components;
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  if (cmyk) {
    cinfo.out_color_space = JCS_CMYK;
  } else if (components == 1) {
    cinfo.out_color_space = JCS_GRAYSCALE;
  } else {
    cinfo.out_color_space = JCS_RGB;
  }
  const bool adobe_inverted = cmyk && cinfo.saw_Adobe_marker;
  const int64_t h = cinfo.image_height, w = cinfo.image_width;
  if (h <= 0 || w <= 0 || h * w > kMaxImagePixels) {
    jpeg_destroy_decompress(&cinfo);
    CheckSize(h, w, what);
  }
  jpeg_start_decompress(&cinfo);
  const int out_components = cinfo.output_components;
  RgbImage& image = held->image;
  std::vector<uint8_t>& scanline = held->scanline;
  image = RgbImage(h, w);
  scanline.resize(static_cast<size_t>(w * out_components));
  while (cinfo.output_scanline < cinfo.output_height) {
    const int64_t y = cinfo.output_scanline;
    JSAMPROW row = scanline.data();
    if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) break;
    uint8_t* out = image.row(y);
    const uint8_t* in = scanline.data();
    if (out_components == 3) {
      std::memcpy(out, in, static_cast<size_t>(w * 3));
    } else if (out_components == 1) {
      for (int64_t x = 0; x < w; ++x) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[x];
    } else {
      for (int64_t x = 0; x < w; ++x) {
        uint8_t c[4];
        for (int k = 0; k < 4; ++k) {
          c[k] = adobe_inverted ? static_cast<uint8_t>(255 - in[4 * x + k]) : in[4 * x + k];
        }
        for (int k = 0; k < 3; ++k) out[3 * x + k] = CmykChannel(c[k], c[3]);
      }
    }
  }
  // Rows a truncated file did not reach stay as PIL leaves them in that case: the decoder has
  // already filled them (libjpeg pads missing data), so only a short read leaves zeros.
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return std::move(image);
}

// ----- PNG ----------------------------------------------------------------------------------

struct PngReadState {
  std::string_view bytes;
  size_t offset = 0;
  char message[256] = {0};
};

void PngRead(png_structp png, png_bytep out, png_size_t length) {
  auto* s = static_cast<PngReadState*>(png_get_io_ptr(png));
  if (s->offset + length > s->bytes.size()) png_error(png, "file is truncated");
  std::memcpy(out, s->bytes.data() + s->offset, length);
  s->offset += length;
}

void PngError(png_structp png, png_const_charp message) {
  auto* s = static_cast<PngReadState*>(png_get_error_ptr(png));
  std::snprintf(s->message, sizeof(s->message), "%s", message);
  png_longjmp(png, 1);
}

void PngWarning(png_structp, png_const_charp) {}

RgbImage DecodePng(std::string_view bytes, const std::string& what) {
  PngReadState state;
  state.bytes = bytes;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, PngError, PngWarning);
  if (png == nullptr) throw ImageDecodeError(what + ": out of memory for the PNG decoder");
  png_infop info = png_create_info_struct(png);
  // As in DecodeJpeg: what changes after setjmp is on the heap behind an unchanged pointer.
  struct Buffers {
    RgbImage image;
    std::vector<uint8_t> buffer;
    std::vector<png_bytep> rows;
  };
  const auto held = std::make_unique<Buffers>();
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw ImageDecodeError(what + ": not a decodable PNG (" + state.message + ")");
  }
  png_set_read_fn(png, &state, PngRead);
  // Large text chunks are allowed (the official datasets raise PIL's MAX_TEXT_CHUNK to 1 GiB).
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_set_chunk_malloc_max(png, 0);
  png_read_info(png, info);
  png_uint_32 w = 0, h = 0;
  int bit_depth = 0, color_type = 0;
  png_get_IHDR(png, info, &w, &h, &bit_depth, &color_type, nullptr, nullptr, nullptr);
  if (static_cast<int64_t>(w) * h > kMaxImagePixels || w == 0 || h == 0) {
    png_destroy_read_struct(&png, &info, nullptr);
    CheckSize(h, w, what);
  }
  const bool has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
  // PIL: a tRNS chunk is "transparency" in info, so pil_img2rgb composites on white; "LA"
  // (grey + alpha) is converted to RGB by dropping the alpha; "RGBA" is composited.
  const bool composite = has_trns || color_type == PNG_COLOR_TYPE_RGB_ALPHA;
  const bool grey16_clip = color_type == PNG_COLOR_TYPE_GRAY && bit_depth == 16 && !has_trns;
  png_set_expand(png);  // palette -> RGB, low-bit grey -> 8 bits, tRNS -> alpha
  if (!grey16_clip) png_set_strip_16(png);
  if (color_type == PNG_COLOR_TYPE_GRAY_ALPHA && !has_trns) png_set_strip_alpha(png);
  if (grey16_clip) png_set_swap(png);  // little-endian 16-bit samples, read below
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int channels = png_get_channels(png, info);
  const size_t rowbytes = png_get_rowbytes(png, info);
  std::vector<uint8_t>& buffer = held->buffer;
  std::vector<png_bytep>& rows = held->rows;
  buffer.resize(rowbytes * h);
  rows.resize(h);
  for (png_uint_32 y = 0; y < h; ++y) rows[y] = buffer.data() + y * rowbytes;
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);

  RgbImage& image = held->image;
  image = RgbImage(h, w);
  for (png_uint_32 y = 0; y < h; ++y) {
    const uint8_t* in = rows[y];
    uint8_t* out = image.row(y);
    for (png_uint_32 x = 0; x < w; ++x) {
      uint8_t rgb[3], a = 255;
      if (grey16_clip) {
        // PIL opens 16-bit grey as "I;16" and its conversion to 8 bits clips at 255.
        const unsigned v = in[2 * x] | (in[2 * x + 1] << 8);
        rgb[0] = rgb[1] = rgb[2] = static_cast<uint8_t>(v > 255 ? 255 : v);
      } else if (channels == 1) {
        rgb[0] = rgb[1] = rgb[2] = in[x];
      } else if (channels == 2) {
        rgb[0] = rgb[1] = rgb[2] = in[2 * x];
        a = in[2 * x + 1];
      } else if (channels == 3) {
        std::memcpy(rgb, in + 3 * x, 3);
      } else {
        std::memcpy(rgb, in + 4 * x, 3);
        a = in[4 * x + 3];
      }
      for (int k = 0; k < 3; ++k) out[3 * x + k] = composite ? OnWhite(rgb[k], a) : rgb[k];
    }
  }
  return std::move(image);
}

// ----- other formats --------------------------------------------------------------------------

RgbImage DecodeWithStb(std::string_view bytes, const std::string& what) {
  int w = 0, h = 0, comp = 0;
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = static_cast<int>(std::min<size_t>(bytes.size(), 0x7fffffff));
  if (!stbi_info_from_memory(data, len, &w, &h, &comp)) {
    throw ImageDecodeError(what + ": not a decodable image (" + stbi_failure_reason() + ")");
  }
  CheckSize(h, w, what);
  std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load_from_memory(data, len, &w, &h, &comp, 4),
                                               stbi_image_free);
  if (!px) throw ImageDecodeError(what + ": not a decodable image (" + stbi_failure_reason() + ")");
  RgbImage image(h, w);
  const bool alpha = comp == 2 || comp == 4;
  for (int64_t i = 0; i < static_cast<int64_t>(w) * h; ++i) {
    const stbi_uc* p = px.get() + 4 * i;
    for (int k = 0; k < 3; ++k) image.pixels[3 * i + k] = alpha ? OnWhite(p[k], p[3]) : p[k];
  }
  return image;
}

}  // namespace

RgbImage DecodeImage(std::string_view bytes, const std::string& what) {
  if (bytes.size() >= 3 && static_cast<uint8_t>(bytes[0]) == 0xFF &&
      static_cast<uint8_t>(bytes[1]) == 0xD8 && static_cast<uint8_t>(bytes[2]) == 0xFF) {
    return DecodeJpeg(bytes, what);
  }
  static constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPngSignature, 8) == 0) {
    return DecodePng(bytes, what);
  }
  if (bytes.empty()) throw ImageDecodeError(what + ": empty image data");
  return DecodeWithStb(bytes, what);
}

RgbImage DecodeImageFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ImageDecodeError(path + ": cannot open the image file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw ImageDecodeError(path + ": cannot read the image file");
  const std::string bytes = ss.str();
  return DecodeImage(bytes, path);
}

}  // namespace bagel::imaging
