# The peer suite's statistics (the paired comparison, its sign test) are checked without running a
# benchmark.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME bench.suite_stats COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/bench/suite_stats_test.py)
endif()
