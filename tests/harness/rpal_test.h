/* SPDX-License-Identifier: MIT */
/*
 * rpal's test harness, in the shape of the kernel's kselftest: TEST() and
 * TEST_F() with fixtures, ASSERT_* (stop the test) and EXPECT_* (record
 * and go on), SKIP(). Each test runs in its own forked process group with
 * a timeout, so a crash, a hang or a stray child fails that test alone.
 *
 * Output is TAP-like: "ok N name", "not ok N name", "ok N name # SKIP why",
 * then "# totals: N passed, N failed, N skipped".
 * Exit status: 0 all passed (skips allowed), 1 any failed, 4 all skipped.
 *
 * Usage of a test binary: prog [-l] [-t name]... [-T seconds]
 */
#ifndef RPAL_TEST_H
#define RPAL_TEST_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define RPAL_TEST_SKIP_CODE 4
#define RPAL_TEST_DEFAULT_TIMEOUT 60

struct rpal_test {
	const char *name;
	void (*fn)(struct rpal_test *t, void *fixture);
	size_t fixture_size;
	void (*setup)(struct rpal_test *t, void *fixture);
	void (*teardown)(struct rpal_test *t, void *fixture);
	unsigned int timeout; /* seconds; 0: default */
	bool failed;	      /* set by EXPECT_*, read in the child only */
	struct rpal_test *next;
};

void rpal_test_register(struct rpal_test *t);
/* Ends the current test: status 1 (fail) or RPAL_TEST_SKIP_CODE. */
_Noreturn void rpal_test_exit(struct rpal_test *t, int status);
void rpal_test_log(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define RPAL_TEST__REG(id, nm, fnp, fsz, su, td, to)                        \
	static struct rpal_test rpal_test__##id = {                         \
		.name = nm,                                                 \
		.fn = fnp,                                                  \
		.fixture_size = fsz,                                        \
		.setup = su,                                                \
		.teardown = td,                                             \
		.timeout = to,                                              \
	};                                                                  \
	__attribute__((constructor)) static void rpal_test__ctor_##id(void) \
	{                                                                   \
		rpal_test_register(&rpal_test__##id);                       \
	}

/* TEST_T(name, seconds): a test with its own timeout. */
#define TEST_T(tname, secs)                                             \
	static void tname(struct rpal_test *_t, void *_fx);             \
	RPAL_TEST__REG(tname, #tname, tname, 0, NULL, NULL, secs)       \
	static void tname(struct rpal_test *_t __attribute__((unused)), \
			  void *_fx __attribute__((unused)))
#define TEST(tname) TEST_T(tname, 0)

/* FIXTURE(f) { fields }; then FIXTURE_SETUP(f) and FIXTURE_TEARDOWN(f). */
#define FIXTURE(f) struct rpal_fixture_##f
#define FIXTURE_SETUP(f)                                               \
	static void rpal_setup_##f(struct rpal_test *_t,               \
				   struct rpal_fixture_##f *self);     \
	static void rpal_setup_##f##_v(struct rpal_test *_t, void *fx) \
	{                                                              \
		rpal_setup_##f(_t, fx);                                \
	}                                                              \
	static void rpal_setup_##f(struct rpal_test *_t                \
				   __attribute__((unused)),            \
				   struct rpal_fixture_##f *self)
#define FIXTURE_TEARDOWN(f)                                               \
	static void rpal_teardown_##f(struct rpal_test *_t,               \
				      struct rpal_fixture_##f *self);     \
	static void rpal_teardown_##f##_v(struct rpal_test *_t, void *fx) \
	{                                                                 \
		rpal_teardown_##f(_t, fx);                                \
	}                                                                 \
	static void rpal_teardown_##f(struct rpal_test *_t                \
				      __attribute__((unused)),            \
				      struct rpal_fixture_##f *self)
#define TEST_F_T(f, tname, secs)                                              \
	static void f##_##tname(struct rpal_test *_t,                         \
				struct rpal_fixture_##f *self);               \
	static void f##_##tname##_v(struct rpal_test *_t, void *fx)           \
	{                                                                     \
		f##_##tname(_t, fx);                                          \
	}                                                                     \
	RPAL_TEST__REG(f##_##tname, #f "." #tname, f##_##tname##_v,           \
		       sizeof(struct rpal_fixture_##f), rpal_setup_##f##_v,   \
		       rpal_teardown_##f##_v, secs)                           \
	static void f##_##tname(struct rpal_test *_t __attribute__((unused)), \
				struct rpal_fixture_##f *self)
#define TEST_F(f, tname) TEST_F_T(f, tname, 0)

#define TH_LOG(...) rpal_test_log(__FILE__, __LINE__, __VA_ARGS__)

#define SKIP(...)                                        \
	do {                                             \
		printf("# SKIP: ");                      \
		printf(__VA_ARGS__);                     \
		printf("\n");                            \
		rpal_test_exit(_t, RPAL_TEST_SKIP_CODE); \
	} while (0)

/* Integer comparisons: both sides evaluated once, printed on failure. */
#define RPAL__CMP(stop, a, op, b)                                             \
	do {                                                                  \
		intmax_t _a = (intmax_t)(a), _b = (intmax_t)(b);              \
		if (!(_a op _b)) {                                            \
			TH_LOG("expected %s %s %s (%jd %s %jd)", #a, #op, #b, \
			       _a, #op, _b);                                  \
			_t->failed = true;                                    \
			if (stop)                                             \
				rpal_test_exit(_t, 1);                        \
		}                                                             \
	} while (0)

#define ASSERT_EQ(a, b) RPAL__CMP(1, a, ==, b)
#define ASSERT_NE(a, b) RPAL__CMP(1, a, !=, b)
#define ASSERT_LT(a, b) RPAL__CMP(1, a, <, b)
#define ASSERT_LE(a, b) RPAL__CMP(1, a, <=, b)
#define ASSERT_GT(a, b) RPAL__CMP(1, a, >, b)
#define ASSERT_GE(a, b) RPAL__CMP(1, a, >=, b)
#define ASSERT_TRUE(c) RPAL__CMP(1, !!(c), ==, 1)
#define ASSERT_FALSE(c) RPAL__CMP(1, !!(c), ==, 0)
#define EXPECT_EQ(a, b) RPAL__CMP(0, a, ==, b)
#define EXPECT_NE(a, b) RPAL__CMP(0, a, !=, b)
#define EXPECT_LT(a, b) RPAL__CMP(0, a, <, b)
#define EXPECT_LE(a, b) RPAL__CMP(0, a, <=, b)
#define EXPECT_GT(a, b) RPAL__CMP(0, a, >, b)
#define EXPECT_GE(a, b) RPAL__CMP(0, a, >=, b)
#define EXPECT_TRUE(c) RPAL__CMP(0, !!(c), ==, 1)
#define EXPECT_FALSE(c) RPAL__CMP(0, !!(c), ==, 0)

/* A syscall-style call that must fail with exactly errno e. */
#define ASSERT_ERRNO(call, e)                                               \
	do {                                                                \
		errno = 0;                                                  \
		long _r = (long)(call);                                     \
		int _e = errno;                                             \
		if (_r != -1 || _e != (e)) {                                \
			TH_LOG("expected %s to fail with %s, got %ld (%s)", \
			       #call, strerror(e), _r, strerror(_e));       \
			_t->failed = true;                                  \
			rpal_test_exit(_t, 1);                              \
		}                                                           \
	} while (0)

/* A syscall-style call that must succeed (not return -1). */
#define ASSERT_OK(call)                                                  \
	do {                                                             \
		errno = 0;                                               \
		if ((long)(call) == -1) {                                \
			TH_LOG("%s failed: %s", #call, strerror(errno)); \
			_t->failed = true;                               \
			rpal_test_exit(_t, 1);                           \
		}                                                        \
	} while (0)

#endif /* RPAL_TEST_H */
