# Tests that are whole builds. Each must-not-compile check builds one source expecting a specific
# compiler error (matched by PASS_REGULAR_EXPRESSION, so an unrelated error fails the test), and a
# positive control that builds the same source with the offending line switched off (so the file
# itself is known to be valid otherwise). Append further build tests (install/consume, ...) below.

# tether_add_compile_fail_test(<name> <source> <regex of the expected error>)
function(tether_add_compile_fail_test name source regex)
  add_executable(compile_fail_${name} EXCLUDE_FROM_ALL ${source})
  target_link_libraries(compile_fail_${name} PRIVATE tether::tether)
  add_test(NAME build.compile_fail.${name}
           COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target compile_fail_${name})
  set_tests_properties(build.compile_fail.${name} PROPERTIES PASS_REGULAR_EXPRESSION "${regex}" TIMEOUT 300)

  add_executable(compile_fail_${name}_control EXCLUDE_FROM_ALL ${source})
  target_link_libraries(compile_fail_${name}_control PRIVATE tether::tether)
  target_compile_definitions(compile_fail_${name}_control PRIVATE TETHER_COMPILE_FAIL_CONTROL=1)
  add_test(NAME build.compile_fail.${name}_control
           COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target compile_fail_${name}_control)
  set_tests_properties(build.compile_fail.${name}_control PROPERTIES TIMEOUT 300)
endfunction()

tether_add_compile_fail_test(mutex_with_suspending_lambda
  ${CMAKE_CURRENT_SOURCE_DIR}/compile_fail/mutex_with_suspending_lambda.cpp
  "the closure returns an awaitable")
