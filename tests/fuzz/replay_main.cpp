// The GCC replay driver: feeds every file under the folders (or files) named on the command
// line to the target, in name order, and prints how many it ran. A target aborts on a broken
// property, so a failing input fails the test that runs this driver. Also `--help`.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_support.hpp"

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    if (argc < 2 || std::string(argv[1]) == "--help") {
        std::printf(
            "usage: %s DIR_OR_FILE...\n"
            "Feeds every file to the fuzz target once (corpus and regression inputs).\n",
            argc > 0 ? argv[0] : "replay"
        );
        return argc < 2 ? 2 : 0;
    }
    std::vector<fs::path> inputs;
    for (int i = 1; i < argc; ++i) {
        const fs::path p = argv[i];
        if (fs::is_directory(p)) {
            for (const auto& e : fs::recursive_directory_iterator(p)) {
                if (e.is_regular_file() && e.path().filename().string().front() != '.') {
                    inputs.push_back(e.path());
                }
            }
        } else if (fs::is_regular_file(p)) {
            inputs.push_back(p);
        } else {
            std::fprintf(stderr, "replay: %s is neither a file nor a folder\n", p.c_str());
            return 2;
        }
    }
    std::sort(inputs.begin(), inputs.end());
    if (inputs.empty()) {
        std::fprintf(stderr, "replay: no inputs under the folders given\n");
        return 2;
    }
    for (const auto& p : inputs) {
        std::ifstream in(p, std::ios::binary);
        const std::string bytes{std::istreambuf_iterator<char>(in), {}};
        std::fprintf(stderr, "replay: %s\n", p.c_str());
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    }
    std::printf("replayed %zu inputs\n", inputs.size());
    return 0;
}
