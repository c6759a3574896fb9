// The case fields the Primero sandbox's configuration knows: the standard CPIMS+ case forms
// (reference §2.2–2.7) plus the custom fields of its Cox's Bazar deployment. A write keeps
// only these top-level keys, as Primero's strong parameters do (reference §1.7, §5.15).
// Subform rows are not checked.
#pragma once

#include <string_view>

namespace casebridge::sandbox {

/// True if `name` is a top-level case field of the sandbox's forms.
bool is_case_form_field(std::string_view name);

/// Primero's filterable id fields (`Child.filterable_id_fields`), searched by `query=`.
bool is_filterable_id_field(std::string_view name);

/// True if location `code` is `ancestor` or lies below it. The sandbox's location codes are
/// hierarchical by prefix (BD → BD20 → BD2022 → BD202201 → BD20220101; LOC01 → LOC0102).
bool is_location_within(std::string_view code, std::string_view ancestor);

}  // namespace casebridge::sandbox
