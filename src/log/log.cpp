#include "log/log.hpp"

#include <cstdio>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/error.hpp"
#include "core/time.hpp"
#include "core/token_text.hpp"

namespace casebridge {

std::optional<log_level> parse_log_level(std::string_view name) {
    for (const auto level :
         {log_level::trace,
          log_level::debug,
          log_level::info,
          log_level::warn,
          log_level::error,
          log_level::off}) {
        if (to_string(level) == name) {
            return level;
        }
    }
    return std::nullopt;
}

std::string_view to_string(log_level level) {
    switch (level) {
        case log_level::trace:
            return "trace";
        case log_level::debug:
            return "debug";
        case log_level::info:
            return "info";
        case log_level::warn:
            return "warn";
        case log_level::error:
            return "error";
        case log_level::off:
            return "off";
    }
    return "?";
}

record_ref record_ref::of(
    std::string_view system, const rapidjson::Value& record, static_text id_member
) {
    record_ref ref{std::string(system), "?"};
    if (record.IsObject()) {
        const auto name = id_member.view();
        const auto it =
            record.FindMember(rapidjson::Value(rapidjson::StringRef(name.data(), name.size())));
        if (it != record.MemberEnd()) {
            if (it->value.IsString()) {
                const std::string_view id{it->value.GetString(), it->value.GetStringLength()};
                ref.id = is_token_text(id) ? id : not_an_id;
            } else if (it->value.IsInt64()) {
                ref.id = std::to_string(it->value.GetInt64());
            }
        }
    }
    return ref;
}

void stderr_sink::write(std::string_view line) {
    std::lock_guard lock(mutex_);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

stderr_sink& stderr_sink::instance() {
    static stderr_sink sink;
    return sink;
}

void memory_sink::write(std::string_view line) {
    std::lock_guard lock(mutex_);
    lines_.emplace_back(line);
}

std::vector<std::string> memory_sink::lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
}

std::string memory_sink::text() const {
    std::lock_guard lock(mutex_);
    std::string all;
    for (const auto& l : lines_) {
        all += l;
    }
    return all;
}

logger::logger(log_sink& sink, const clock_source& clock, log_level min_level)
    : sink_(&sink), clock_(&clock), min_level_(min_level) {}

logger logger::with_flow(std::string flow) const {
    logger copy = *this;
    copy.flow_ = std::make_shared<const std::string>(std::move(flow));
    return copy;
}

logger logger::with_system(std::string system) const {
    logger copy = *this;
    copy.system_ = std::make_shared<const std::string>(std::move(system));
    return copy;
}

void logger::log(log_level level, event_name event, static_text msg, const log_fields& f) const {
    if (!enabled(level) || level == log_level::off) {
        return;
    }
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    const auto str = [&w](std::string_view s) {
        w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    };
    const auto key = [&w](std::string_view k) {
        w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    };
    w.StartObject();
    key("ts");
    str(format_rfc3339(clock_->now(), 3));
    key("level");
    str(to_string(level));
    key("event");
    str(event.view());
    const std::string_view flow = !f.flow.empty() ? f.flow : flow_ ? std::string_view(*flow_) : "";
    if (!flow.empty()) {
        key("flow");
        str(flow);
    }
    const std::string_view system = !f.system.empty() ? f.system
                                    : system_         ? std::string_view(*system_)
                                                      : "";
    if (!system.empty()) {
        key("system");
        str(system);
    }
    if (f.record) {
        key("record_ref");
        std::string ref(f.record->system.empty() ? system : std::string_view(f.record->system));
        ref += ':';
        // Every id is checked where it is written, however the reference was made: one read
        // from a remote answer or a misconfigured id field may hold a name.
        const std::string& id = f.record->id;
        ref += id.empty()                       ? std::string_view("?")
               : id == "?" || is_token_text(id) ? std::string_view(id)
                                                : not_an_id;
        str(ref);
    }
    if (f.error) {
        key("error");
        str(error_name(f.error));
        key("error_text");
        str(f.error.message());
        if (f.error.has_location()) {
            key("error_at");
            const auto& loc = f.error.location();
            std::string at = loc.file_name();
            at += ':' + std::to_string(loc.line());
            str(at);
        }
    }
    if (!f.counts.empty()) {
        key("counts");
        w.StartObject();
        for (const auto& c : f.counts) {
            key(c.name.view());
            w.Int64(c.value);
        }
        w.EndObject();
    }
    if (!f.field_names.empty()) {
        key("fields");
        w.StartArray();
        for (const auto name : f.field_names) {
            str(name);
        }
        w.EndArray();
    }
    key("msg");
    str(msg.view());
    w.EndObject();
    std::string line(buf.GetString(), buf.GetSize());
    line += '\n';
    sink_->write(line);
}

}  // namespace casebridge
