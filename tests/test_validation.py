import pytest
from absl.testing import parameterized

from keras_stw.validation import check_positive_int
from tests.test_case import TestCase


class CheckPositiveIntTest(TestCase):
    @parameterized.parameters(1, 8, 2**40)
    def test_positive_integers_pass_through(self, value):
        self.assertIs(check_positive_int("num_frames", value), value)

    @parameterized.parameters(0, -3, 2.0, 2.5, "8", None, True, False)
    def test_everything_else_is_refused_naming_the_argument(self, value):
        with pytest.raises(ValueError) as error:
            check_positive_int("num_frames", value)
        self.assertEqual(
            str(error.value),
            f"`num_frames` must be a positive integer. Received: num_frames={value!r}",
        )

    def test_minimum_and_reason(self):
        self.assertEqual(check_positive_int("shift_div", 2, minimum=2), 2)
        with pytest.raises(ValueError, match=r"^`shift_div` must be an integer of at least 2\. "):
            check_positive_int("shift_div", 1, minimum=2)
        with pytest.raises(
            ValueError, match=r"positive integer, TF Serving's version folder\. Received: version=0"
        ):
            check_positive_int("version", 0, why=", TF Serving's version folder")
