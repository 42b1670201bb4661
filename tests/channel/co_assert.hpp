// ASSERT_* for coroutines: GoogleTest's ASSERT_ macros `return`, which a coroutine cannot; these
// record the failure and `co_return` instead. Only for Task<void> bodies.
#pragma once

#include <gtest/gtest.h>

#define CO_ASSERT_TRUE(cond)                        \
  do {                                              \
    if (!(cond)) {                                  \
      ADD_FAILURE() << "CO_ASSERT_TRUE(" #cond ")"; \
      co_return;                                    \
    }                                               \
  } while (0)
#define CO_ASSERT_FALSE(cond) CO_ASSERT_TRUE(!(cond))
