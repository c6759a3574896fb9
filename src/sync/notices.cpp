#include "sync/notices.hpp"

#include <algorithm>

#include "adapter/adapter.hpp"

namespace casebridge::sync {

namespace {

constexpr std::string_view reference_placeholder = "{reference}";
constexpr std::string_view agencies_placeholder = "{agencies}";

bool word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

std::size_t count_of(std::string_view text, std::string_view what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string_view::npos;
         at = text.find(what, at + what.size())) {
        ++n;
    }
    return n;
}

/// Flag ids as the remote gives them (decimal): ordered by number, then as text.
bool id_less(const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
}

}  // namespace

std::optional<std::string> check_flag_text(std::string_view text) {
    if (count_of(text, reference_placeholder) != 1) {
        return "must hold {reference} exactly once (the IMO reference, the same on every "
               "agency's flag of one child)";
    }
    for (auto open = text.find('{'); open != std::string_view::npos;
         open = text.find('{', open + 1)) {
        const auto rest = text.substr(open);
        if (rest.rfind(reference_placeholder, 0) != 0 && rest.rfind(agencies_placeholder, 0) != 0) {
            return "only {reference} and {agencies} can be filled in";
        }
    }
    return std::nullopt;
}

std::string reference_marker(std::string_view reference) {
    return "ref:" + std::string(reference);
}

bool carries_marker(std::string_view message, std::string_view marker) {
    if (marker.empty()) {
        return false;
    }
    for (auto at = message.find(marker); at != std::string_view::npos;
         at = message.find(marker, at + 1)) {
        const auto end = at + marker.size();
        const bool starts = at == 0 || !word_char(message[at - 1]);
        const bool ends = end == message.size() || !word_char(message[end]);
        if (starts && ends) {
            return true;
        }
    }
    return false;
}

std::string render_flag_text(
    std::string_view text, std::string_view marker, const std::vector<std::string>& agencies
) {
    std::string names;
    for (const auto& a : agencies) {
        if (!names.empty()) {
            names += ", ";
        }
        names += a;
    }
    std::string out;
    out.reserve(text.size() + names.size() + marker.size());
    std::size_t i = 0;
    while (i < text.size()) {
        const auto rest = text.substr(i);
        if (rest.rfind(reference_placeholder, 0) == 0) {
            out += marker;
            i += reference_placeholder.size();
        } else if (rest.rfind(agencies_placeholder, 0) == 0) {
            out += names;
            i += agencies_placeholder.size();
        } else {
            out += text[i++];
        }
    }
    return out;
}

std::vector<flag_step> plan_flag_steps(
    const duplicate_notice& notice, const std::vector<record_flag>& flags, const flag_texts& texts
) {
    const std::string marker = reference_marker(notice.reference);
    std::vector<const record_flag*> ours;
    for (const auto& f : flags) {
        if (!f.removed && carries_marker(f.message, marker)) {
            ours.push_back(&f);
        }
    }
    std::sort(ours.begin(), ours.end(), [](const record_flag* a, const record_flag* b) {
        return id_less(a->id, b->id);
    });
    std::vector<flag_step> steps;
    if (notice.what == duplicate_notice::kind::retraction) {
        const std::string text = render_flag_text(texts.resolved, marker, {});
        for (const auto* f : ours) {
            steps.push_back({flag_step::kind::resolve, f->id, text});
        }
        return steps;
    }
    std::vector<std::string> names;
    names.reserve(notice.other_agencies.size());
    for (const auto& a : notice.other_agencies) {
        names.push_back(a.display_name.empty() ? a.id : a.display_name);
    }
    const std::string text = render_flag_text(texts.message, marker, names);
    if (ours.empty()) {
        steps.push_back({flag_step::kind::raise, {}, text});
    } else if (ours.front()->message != text) {
        steps.push_back({flag_step::kind::update, ours.front()->id, text});
    }
    return steps;
}

}  // namespace casebridge::sync
