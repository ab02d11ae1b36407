/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The rings a fixture's tests run on, as kselftest_harness.h variants: the
 * fixture's FIXTURE_VARIANT(), with
 *
 *	setup_flags	the IORING_SETUP_* flags of the ring,
 *	inline_read	and whether it also has IORING_SETUP_INLINE_READ,
 *
 * and its FIXTURE_VARIANT_ADD()s, in this order: inline_plain,
 * inline_coop_taskrun, inline_single_issuer, inline_sqpoll,
 * inline_defer_taskrun, stock_plain, stock_coop_taskrun, stock_single_issuer
 * and stock_defer_taskrun; with INL_VARIANTS_PLAIN_DEFER defined, only
 * inline_plain, inline_defer_taskrun, stock_plain and stock_defer_taskrun.
 *
 * Include it once per fixture, after inline_test.h and the fixture's
 * FIXTURE(), with INL_VARIANTS_OF defined to the fixture's name; e.g. for the
 * four variants of fixture efd, these two lines and then the #include:
 *
 *	#define INL_VARIANTS_OF efd
 *	#define INL_VARIANTS_PLAIN_DEFER
 *
 * It has no include guard, and it undefines both macros at its end.
 */

#ifndef INL_VARIANTS_OF
#error "define INL_VARIANTS_OF to the fixture's name before including this file"
#endif

INL_FIXTURE_VARIANT(INL_VARIANTS_OF) {
	unsigned int setup_flags;
	bool inline_read;
};

INL_FIXTURE_VARIANT_ADD(INL_VARIANTS_OF, inline_plain) {
	.setup_flags = 0,
	.inline_read = true,
};

#ifndef INL_VARIANTS_PLAIN_DEFER
INL_FIXTURE_VARIANT_ADD(INL_VARIANTS_OF, inline_coop_taskrun) {
	.setup_flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
	.inline_read = true,
};

INL_FIXTURE_VARIANT_ADD(INL_VARIANTS_OF, inline_single_issuer) {
	.setup_flags = IORING_SETUP_SINGLE_ISSUER,
	.inline_read = true,
};

INL_FIXTURE_VARIANT_ADD(INL_VARIANTS_OF, inline_sqpoll) {
	.setup_flags = IORING_SETUP_SQPOLL,
	.inline_read = true,
};
#endif

INL_FIXTURE_VARIANT_ADD(INL_VARIANTS_OF, inline_defer_taskrun) {
	.setup_flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
	.inline_read = true,
};

INL_FIXTURE_VARIANT_ADD(INL_VARIANTS_OF, stock_plain) {
	.setup_flags = 0,
	.inline_read = false,
};

#ifndef INL_VARIANTS_PLAIN_DEFER
INL_FIXTURE_VARIANT_ADD(INL_VARIANTS_OF, stock_coop_taskrun) {
	.setup_flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
	.inline_read = false,
};

INL_FIXTURE_VARIANT_ADD(INL_VARIANTS_OF, stock_single_issuer) {
	.setup_flags = IORING_SETUP_SINGLE_ISSUER,
	.inline_read = false,
};
#endif

INL_FIXTURE_VARIANT_ADD(INL_VARIANTS_OF, stock_defer_taskrun) {
	.setup_flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
	.inline_read = false,
};

#undef INL_VARIANTS_OF
#undef INL_VARIANTS_PLAIN_DEFER
