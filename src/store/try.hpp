// STORE_TRY: propagate the error of a result<T> expression from a function returning result<U>.
#pragma once

#include "core/result.hpp"

#define STORE_TRY(expr)                                  \
    do {                                                 \
        if (auto store_try_r_ = (expr); !store_try_r_) { \
            return store_try_r_.error();                 \
        }                                                \
    } while (false)
