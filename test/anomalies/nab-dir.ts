/** Where the shared NAB corpus lives (NAB_DIR overrides; a missing corpus fails the tests, it does not skip them). */
export const nabDir = process.env.NAB_DIR ?? '/work/shared/datasets/nab';
