// `casebridge mapping check|apply`: validate mapping files; run one on a record.
#include <iostream>
#include <iterator>
#include <optional>
#include <ostream>
#include <sstream>

#include "canonical/canonical_case.hpp"
#include "cli/commands.hpp"
#include "core/time.hpp"
#include "json/json.hpp"
#include "log/log.hpp"
#include "mapping/mapping.hpp"

namespace casebridge::cli {

namespace {

canonical_catalogue load_catalogue(const parsed_args& args) {
    const auto path = args.get("canonical");
    return canonical_catalogue::load(
        path ? std::filesystem::path(*path) : canonical_catalogue::default_path()
    );
}

}  // namespace

int run_mapping_check(const parsed_args& args, command_io& io) {
    const auto cat = load_catalogue(args);
    int failed = 0;
    for (const auto& file : args.positional()) {
        try {
            const auto m = mapping::compiled_mapping::load(file, cat);
            io.out << file << ": ok (" << m.id() << " version " << m.version() << ")\n";
        } catch (const json::file_error& e) {
            io.err << e.what() << '\n';
            ++failed;
        }
    }
    return failed == 0 ? exit_ok : exit_error;
}

int run_mapping_apply(const parsed_args& args, command_io& io) {
    const auto cat = load_catalogue(args);
    const auto m = mapping::compiled_mapping::load(*args.get("mapping"), cat);
    const auto dir_name = *args.get("direction");
    if (dir_name != "in" && dir_name != "out") {
        io.err << "casebridge mapping apply: --direction is \"in\" or \"out\"\n";
        return exit_usage;
    }
    const auto dir = dir_name == "in" ? mapping::direction::in : mapping::direction::out;
    if (!m.supports(dir)) {
        io.err << "casebridge mapping apply: mapping " << m.id() << " has no direction " << dir_name
               << '\n';
        return exit_usage;
    }
    std::string text;
    std::string origin = "stdin";
    if (const auto input = args.get("input")) {
        auto read = json::read_file(*input);
        if (!read) {
            io.err << "casebridge mapping apply: " << *input << ": "
                   << json::read_error_text(read.error()) << "\n";
            return exit_error;
        }
        text = std::move(*read);
        origin = *input;
    } else {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    auto doc = json::parse(text);
    if (!doc) {
        io.err << "casebridge mapping apply: " << doc.error().describe(origin) << '\n';
        return exit_error;
    }
    mapping::map_context ctx;
    ctx.now = std::chrono::system_clock::now();
    if (const auto now = args.get("now")) {
        const auto t = parse_rfc3339(*now);
        if (!t) {
            io.err << "casebridge mapping apply: --now is an RFC 3339 date-time\n";
            return exit_usage;
        }
        ctx.now = *t;
    }
    const logger log(stderr_sink::instance(), system_clock_source::instance(), log_level::warn);
    ctx.log = &log;

    std::vector<rapidjson::Document> records;
    const bool many = doc->IsArray();
    if (dir == mapping::direction::in && m.groups_rows()) {
        auto grouped = m.group(*doc);
        if (!grouped) {
            io.out << grouped.error().to_json() << '\n';
            return exit_held;
        }
        records = std::move(*grouped);
    } else if (many) {
        for (const auto& r : doc->GetArray()) {
            records.emplace_back().CopyFrom(r, records.back().GetAllocator());
        }
    } else {
        records.push_back(std::move(*doc));
    }
    rapidjson::Document out(rapidjson::kArrayType);
    for (const auto& r : records) {
        auto mapped = dir == mapping::direction::in ? m.map_in(r, ctx) : m.map_out(r, ctx);
        if (!mapped) {
            io.out << mapped.error().to_json() << '\n';
            return exit_held;
        }
        out.PushBack(rapidjson::Value(*mapped, out.GetAllocator()), out.GetAllocator());
    }
    const bool as_list = many || m.groups_rows();
    if (!as_list && out.Size() == 1) {
        io.out << json::to_string(out[0], true) << '\n';
    } else {
        io.out << json::to_string(out, true) << '\n';
    }
    return exit_ok;
}

}  // namespace casebridge::cli
