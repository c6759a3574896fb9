// Typed ids, codes and field names: the only things the store and the transfer log accept.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/token_text.hpp"

namespace casebridge::store {

using casebridge::is_token_text;

/// A system id, record id, code or field name. A literal that is not token text is a bug
/// (CASEBRIDGE_CHECK); text read at run time goes through `make`, which refuses it.
class token {
public:
    template <std::size_t N>
    token(const char (&literal)[N]) : text_(literal, N - 1) {  // NOLINT
        CASEBRIDGE_CHECK(is_token_text(text_));
    }
    /// Errors: errc::usage when `text` is not token text.
    static result<token> make(std::string_view text) {
        if (!is_token_text(text)) {
            CASEBRIDGE_RETURN_ERROR(errc::usage);
        }
        return token(std::string(text), 0);
    }
    const std::string& str() const noexcept { return text_; }
    friend bool operator==(const token&, const token&) = default;
    friend auto operator<=>(const token&, const token&) = default;

private:
    token(std::string text, int) : text_(std::move(text)) {}
    std::string text_;
};

class keyed_hasher;

/// A record in one system: its system id and its record id. For identifiers that name a
/// person (proGres individual/group numbers, FCN, MoHA, national ids) use `pseudonymous`,
/// which stores only "hmac:<hex>".
struct record_id {
    token system;
    token id;

    /// The pseudonym of a personal identifier of kind `kind` (e.g. "progres_individual").
    static record_id pseudonymous(
        token system, token kind, std::string_view personal_value, const keyed_hasher& hasher
    );
    /// "system:id".
    std::string str() const { return system.str() + ':' + id.str(); }
    friend bool operator==(const record_id&, const record_id&) = default;
};

}  // namespace casebridge::store
