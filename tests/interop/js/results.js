// Pass/fail lines of one check script (JSON lines on stdout, a summary on exit).
'use strict';
const { emit } = require('./lib.js');

class Results {
    constructor(check) {
        this.check_ = check;
        this.failed = 0;
    }

    /** A check that must hold. */
    check(name, ok, detail) {
        if (!ok) {
            this.failed += 1;
        }
        emit({ result: ok ? 'pass' : 'FAIL', name, detail });
    }

    /** An observation (does not fail the run). */
    note(name, value, detail) {
        emit({ result: 'note', name, value, detail });
    }

    done() {
        emit({ result: this.failed === 0 ? 'ALL PASS' : 'FAILED', check: this.check_,
               failed: this.failed });
        process.exit(this.failed === 0 ? 0 : 1);
    }
}

module.exports = { Results };
