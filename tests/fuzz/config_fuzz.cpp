// Configuration files, loaded and checked as `casebridge check` does (every section, the
// adapters' settings, the files they name), in a folder laid out like the shipped example.
// Properties: a refused file is refused with json::file_error whose message starts with the
// file's name and a line; nothing else escapes; no secret's content appears in a message
// (unless the configuration text itself holds that text: it may quote its own keys).
#include <filesystem>
#include <string>

#include "adapter/registry.hpp"
#include "app/config.hpp"
#include "fuzz_support.hpp"
#include "json/json.hpp"

using namespace casebridge;
namespace fs = std::filesystem;

namespace {

struct world {
    adapter_registry adapters;
    fs::path file;
};

world& the_world() {
    static world made = [] {
        world w;
        register_builtin_adapters(w.adapters);
        w.file = fuzz::example_layout() / "config/casebridge.jsonc";
        return w;
    }();
    return made;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto& w = the_world();
    const auto text = fuzz::as_text(data, size);
    fuzz::write_file(w.file, text);
    try {
        (void)app::load_config(w.file, &w.adapters, app::config_need::any);
    } catch (const json::file_error& e) {
        const std::string msg = e.what();
        // A secret can leak only from the files and variables that hold one: an input that
        // carries the same text itself (a key named so) may be quoted back.
        if (text.find(fuzz::secret_text) == std::string_view::npos) {
            fuzz::require(
                msg.find(fuzz::secret_text) == std::string::npos, "no secret in a message"
            );
        }
        fuzz::require(!msg.empty(), "an error has a message");
        // The configuration file, or a file it names (all under the layout), is named.
        fuzz::require(
            msg.find(fuzz::example_layout().string()) != std::string::npos,
            "an error names the file",
            msg
        );
    }
    return 0;
}
