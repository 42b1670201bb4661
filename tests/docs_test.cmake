# Generated documentation stays in step with the headers it is generated from.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME docs.cancellation_page_up_to_date
           COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/scripts/gen-cancellation-doc.py --check)
endif()
if(Python3_Interpreter_FOUND)
  # Every snippet in docs/guide/ is a copy of a compiled example or test (scripts/gen-guide-snippets.py).
  add_test(NAME docs.guide_snippets_match_sources
           COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/scripts/gen-guide-snippets.py --check)
  # docs/reference.md is generated from the opening comment of every public header.
  add_test(NAME docs.reference_up_to_date
           COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/scripts/gen-reference-doc.py --check)
endif()
