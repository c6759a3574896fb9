#include "support/png_image.hpp"

#include <array>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>

#include <zlib.h>

namespace casebridge::test {
namespace {

std::uint32_t be32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}

std::uint8_t paeth(int a, int b, int c) {
    const int p = a + b - c;
    const int pa = std::abs(p - a);
    const int pb = std::abs(p - b);
    const int pc = std::abs(p - c);
    if (pa <= pb && pa <= pc) {
        return static_cast<std::uint8_t>(a);
    }
    return static_cast<std::uint8_t>(pb <= pc ? b : c);
}

}  // namespace

double png_image::inked_share() const {
    if (width == 0 || height == 0) {
        return 0.0;
    }
    std::size_t inked = 0;
    for (std::size_t i = 0; i + 3 < rgba.size(); i += 4) {
        if (rgba[i] < 240 || rgba[i + 1] < 240 || rgba[i + 2] < 240) {
            ++inked;
        }
    }
    return static_cast<double>(inked) / (static_cast<double>(width) * height);
}

std::size_t png_image::colours() const {
    std::set<std::uint32_t> seen;
    for (std::size_t i = 0; i + 3 < rgba.size(); i += 4) {
        seen.insert(be32(&rgba[i]));
    }
    return seen.size();
}

std::optional<png_image> read_png(const std::filesystem::path& file, std::string& error) {
    std::ifstream in(file, std::ios::binary);
    const std::vector<std::uint8_t> bytes(
        (std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()
    );
    static constexpr std::array<std::uint8_t, 8> signature{137, 80, 78, 71, 13, 10, 26, 10};
    if (bytes.size() < 8 || !std::equal(signature.begin(), signature.end(), bytes.begin())) {
        error = file.string() + ": not a PNG file";
        return std::nullopt;
    }
    png_image img;
    int channels = 0;
    std::vector<std::uint8_t> compressed;
    for (std::size_t at = 8; at + 12 <= bytes.size();) {
        const std::uint32_t length = be32(&bytes[at]);
        const std::string type(
            bytes.begin() + static_cast<std::ptrdiff_t>(at) + 4,
            bytes.begin() + static_cast<std::ptrdiff_t>(at) + 8
        );
        if (at + 12 + length > bytes.size()) {
            error = file.string() + ": chunk " + type + " runs past the end of the file";
            return std::nullopt;
        }
        const std::uint8_t* data = &bytes[at + 8];
        if (type == "IHDR") {
            img.width = be32(data);
            img.height = be32(data + 4);
            const int depth = data[8];
            const int colour_type = data[9];
            const int interlace = data[12];
            channels = colour_type == 6 ? 4 : colour_type == 2 ? 3 : 0;
            if (depth != 8 || channels == 0 || interlace != 0) {
                error = file.string() + ": only 8-bit RGB or RGBA without interlacing is read";
                return std::nullopt;
            }
        } else if (type == "IDAT") {
            compressed.insert(compressed.end(), data, data + length);
        } else if (type == "IEND") {
            break;
        }
        at += 12 + length;
    }
    if (channels == 0 || img.width == 0 || img.height == 0) {
        error = file.string() + ": no image header";
        return std::nullopt;
    }
    const std::size_t stride = static_cast<std::size_t>(img.width) * channels;
    std::vector<std::uint8_t> raw((stride + 1) * img.height);
    z_stream z{};
    if (inflateInit(&z) != Z_OK) {
        error = "zlib cannot start";
        return std::nullopt;
    }
    z.next_in = compressed.data();
    z.avail_in = static_cast<uInt>(compressed.size());
    z.next_out = raw.data();
    z.avail_out = static_cast<uInt>(raw.size());
    const int rc = inflate(&z, Z_FINISH);
    inflateEnd(&z);
    if (rc != Z_STREAM_END || z.avail_out != 0) {
        error = file.string() + ": the image data does not inflate to its size";
        return std::nullopt;
    }
    img.rgba.resize(static_cast<std::size_t>(img.width) * img.height * 4);
    std::vector<std::uint8_t> prev(stride, 0);
    std::vector<std::uint8_t> row(stride);
    for (std::uint32_t y = 0; y < img.height; ++y) {
        const std::uint8_t* line = &raw[y * (stride + 1)];
        const int filter = line[0];
        for (std::size_t x = 0; x < stride; ++x) {
            const int a = x >= static_cast<std::size_t>(channels) ? row[x - channels] : 0;
            const int b = prev[x];
            const int c = x >= static_cast<std::size_t>(channels) ? prev[x - channels] : 0;
            int predicted = 0;
            switch (filter) {
                case 0:
                    predicted = 0;
                    break;
                case 1:
                    predicted = a;
                    break;
                case 2:
                    predicted = b;
                    break;
                case 3:
                    predicted = (a + b) / 2;
                    break;
                case 4:
                    predicted = paeth(a, b, c);
                    break;
                default:
                    error = file.string() + ": unknown filter on row " + std::to_string(y);
                    return std::nullopt;
            }
            row[x] = static_cast<std::uint8_t>(line[1 + x] + predicted);
        }
        for (std::uint32_t x = 0; x < img.width; ++x) {
            std::uint8_t* out = &img.rgba[(static_cast<std::size_t>(y) * img.width + x) * 4];
            const std::uint8_t* px = &row[static_cast<std::size_t>(x) * channels];
            out[0] = px[0];
            out[1] = px[1];
            out[2] = px[2];
            out[3] = channels == 4 ? px[3] : 255;
        }
        prev.swap(row);
    }
    return img;
}

}  // namespace casebridge::test
