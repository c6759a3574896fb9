// Reads a PNG file into 8-bit RGBA pixels (non-interlaced, 8 bits per channel: what headless
// Chromium writes for a screenshot), so that a test can tell a page that rendered from a blank
// one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace casebridge::test {

struct png_image {
    std::uint32_t width = 0;
    std::uint32_t height = 0;
    std::vector<std::uint8_t> rgba;  ///< width × height × 4 bytes, row by row.

    /// The share of pixels that are not (nearly) white.
    double inked_share() const;
    /// How many distinct colours the image holds.
    std::size_t colours() const;
};

/// The image in `file`, or nullopt with `error` set (a file that is not a PNG this reader
/// handles: another bit depth, a palette, interlacing, a bad chunk).
std::optional<png_image> read_png(const std::filesystem::path& file, std::string& error);

}  // namespace casebridge::test
