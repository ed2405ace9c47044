"""Write the small CSV files the corpus notebooks read (run once; the files are committed).

- data/diabetes.csv: scikit-learn's bundled diabetes data, unscaled (``load_diabetes(scaled=False)``),
  ten feature columns and ``target``. Read by ``cv_predict.ipynb`` in an untracked cell.
- data/passengers.csv: a synthetic table with the columns of the OpenML Titanic data that
  ``column_transformer_mixed_types.ipynb`` uses (the original example fetches it from openml.org,
  which the tests cannot reach). Fixed seed, so the file is the same each time it is written.

    .venv/bin/python tests/corpus/make_data.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes

DATA = Path(__file__).resolve().parent / "data"


def diabetes() -> pd.DataFrame:
    return load_diabetes(as_frame=True, scaled=False).frame


def passengers(n: int = 1000, seed: int = 1912) -> pd.DataFrame:
    rng = np.random.RandomState(seed)
    pclass = rng.choice([1, 2, 3], size=n, p=[0.25, 0.2, 0.55])
    sex = rng.choice(["female", "male"], size=n, p=[0.36, 0.64])
    age = np.clip(rng.normal(30 - 5 * (pclass - 2), 14), 0.4, 80).round(1)
    sibsp = rng.poisson(0.5, size=n)
    parch = rng.poisson(0.4, size=n)
    fare = np.exp(rng.normal(np.log(np.array([80.0, 22.0, 12.0])[pclass - 1]), 0.6)).round(4)
    embarked = rng.choice(["S", "C", "Q"], size=n, p=[0.7, 0.2, 0.1]).astype(object)
    logit = -0.3 + 2.5 * (sex == "female") - 1.0 * (pclass - 1) - 0.02 * (age - 30) + 0.004 * fare
    survived = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    age[rng.uniform(size=n) < 0.2] = np.nan  # as in the real data, a fifth of the ages are unknown
    embarked[rng.choice(n, size=2, replace=False)] = np.nan
    return pd.DataFrame({"pclass": pclass, "sex": sex, "age": age, "sibsp": sibsp, "parch": parch,
                         "fare": fare, "embarked": embarked, "survived": survived})


if __name__ == "__main__":
    DATA.mkdir(exist_ok=True)
    diabetes().to_csv(DATA / "diabetes.csv", index=False)
    passengers().to_csv(DATA / "passengers.csv", index=False)
    for path in sorted(DATA.glob("*.csv")):
        print(path, path.stat().st_size, "bytes")
