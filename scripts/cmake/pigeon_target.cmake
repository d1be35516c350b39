# Shared settings for pigeon's own targets: warnings on (errors in CI), includes rooted at the repo.
function(pigeon_target_settings target)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR})
    return()
  endif()
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 false positives at -O2 in code inlined from dependency headers: date.h's parser
    # (-Wmaybe-uninitialized) and Asio's coroutine-frame allocator (-Wmismatched-new-delete).
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized -Wno-mismatched-new-delete)
  endif()
  if(PIGEON_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# One doctest executable per tested target, registered test by test with ctest. POSTGRES: its
# tests use the run's throwaway PostgreSQL cluster (tests/CMakeLists.txt) at PIGEON_TEST_PG_DIR;
# tests/store/pg_cluster.hpp starts one of its own when that one is not running.
function(pigeon_test name)
  cmake_parse_arguments(arg "POSTGRES" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${arg_SOURCES})
  pigeon_target_settings(${name})
  target_link_libraries(${name} PRIVATE doctest::doctest ${arg_LIBS})
  target_compile_definitions(${name} PRIVATE
    PIGEON_SOURCE_DIR="${PROJECT_SOURCE_DIR}" PIGEON_BINARY_DIR="${PROJECT_BINARY_DIR}")
  set(env "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  if(arg_POSTGRES)
    target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/store/pg_cluster.cpp)
    target_link_libraries(${name} PRIVATE pigeon_store_postgres)
    target_compile_definitions(${name} PRIVATE PIGEON_TEST_PG_DIR="${PIGEON_TEST_PG_DIR}")
    doctest_discover_tests(${name} PROPERTIES ENVIRONMENT "${env}" FIXTURES_REQUIRED postgres)
  else()
    doctest_discover_tests(${name} PROPERTIES ENVIRONMENT "${env}")
  endif()
endfunction()
