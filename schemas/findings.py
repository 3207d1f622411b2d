"""Data-quality findings: problems a record is loaded with, not quarantined for (unified-store.md,
Outcomes: "Loaded with a data-quality finding"), declared once.

The expectation suites see the unified columns only; these problems are known
only while a raw record is unified (its certificate type code, its phone
number before masking, its evaluator number before pseudonymization), so
`transforms.columnar` counts them per batch and the quality layer records the
counts in `dq_result` as warnings, next to the expectation results.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    reason: str
    stream: str
    column: str  # the unified column it is about
    doc: str


FINDINGS: dict[str, Finding] = {f.reason: f for f in (
    Finding("unknown_cert_type", "cases", "applicant_cert_type",
            "a certificate number whose type code the source's code map does not know (or that came without "
            "one): loaded as 999 其他自然人证件 for a person, 099 其他法人证件 for an organisation"),
    Finding("invalid_phone", "cases", "contact_phone_masked",
            "a contact phone that is neither a mobile number nor a landline with its area code; loaded masked"),
    Finding("invalid_evaluator_cert", "evaluations", "evaluator_key",
            "an evaluator number that is neither a valid 居民身份证 nor a valid 统一社会信用代码: evaluator_key NULL"),
    # The contract quarantines unknown status, channel, applicant type and score codes only; these load.
    Finding("unknown_case_type", "cases", "case_type",
            "a 办件类型 code the source's code map does not know: case_type NULL"),
    Finding("unknown_promise_unit", "cases", "promise_days",
            "a 承诺时限 whose unit code the source's code map does not know: it cannot be converted to working "
            "days, promise_days NULL"),
    Finding("unknown_deleted_flag", "cases", "deleted",
            "a deletion flag the source's code map does not know: deleted false (only the source's own "
            "deletion code sets it)"),
    Finding("unknown_default_flag", "evaluations", "is_default",
            "a 默认评价 flag the source's code map does not know: is_default false (an evaluation the source "
            "does not mark as default)"),
)}
