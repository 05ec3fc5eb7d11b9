//! serde for the number types and [`Projection`]: each is a map of its named lanes,
//! `{"re": .., "e1": .., "e2": .., "e12": ..}`, `{"re": .., "d1": .., "d2": ..}`,
//! `{"re": .., "grad": [..K], "hess": [..K(K+1)/2]}` (the packed block, as the field) and
//! `{"value": .., "grad": [..], "hess": [[..]..], "passes": ..}`. Deserializing checks the lengths.

use crate::api::Projection;
use crate::hyperk::{Dim, Packed};
use crate::real::RealNum;
use crate::{HyperDual, HyperK, Jet};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
#[serde(rename = "HyperDual")]
struct HyperDualRepr<T> {
    re: T,
    e1: T,
    e2: T,
    e12: T,
}

impl<T: RealNum + Serialize> Serialize for HyperDual<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        HyperDualRepr { re: self.re, e1: self.e1, e2: self.e2, e12: self.e12 }.serialize(s)
    }
}

impl<'de, T: RealNum + Deserialize<'de>> Deserialize<'de> for HyperDual<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = HyperDualRepr::deserialize(d)?;
        Ok(Self::new(r.re, r.e1, r.e2, r.e12))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename = "Jet")]
struct JetRepr<T> {
    re: T,
    d1: T,
    d2: T,
}

impl<T: RealNum + Serialize> Serialize for Jet<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        JetRepr { re: self.re, d1: self.d1, d2: self.d2 }.serialize(s)
    }
}

impl<'de, T: RealNum + Deserialize<'de>> Deserialize<'de> for Jet<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = JetRepr::deserialize(d)?;
        Ok(Self::new(r.re, r.d1, r.d2))
    }
}

// serde implements arrays for fixed lengths only, so the lanes of `HyperK` go as slices.
#[derive(Serialize)]
#[serde(rename = "HyperK")]
struct HyperKRef<'a, T> {
    re: T,
    grad: &'a [T],
    hess: &'a [T],
}

#[derive(Deserialize)]
#[serde(rename = "HyperK")]
struct HyperKRepr<T> {
    re: T,
    grad: Vec<T>,
    hess: Vec<T>,
}

impl<T: RealNum + Serialize, const K: usize> Serialize for HyperK<T, K>
where
    Dim<K>: Packed,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        HyperKRef { re: self.re, grad: &self.grad, hess: self.hess.as_ref() }.serialize(s)
    }
}

impl<'de, T: RealNum + Deserialize<'de>, const K: usize> Deserialize<'de> for HyperK<T, K>
where
    Dim<K>: Packed,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = HyperKRepr::<T>::deserialize(d)?;
        let mut x = Self::constant(r.re);
        if r.grad.len() != K {
            return Err(D::Error::invalid_length(r.grad.len(), &format!("grad of {K} entries").as_str()));
        }
        if r.hess.len() != Self::PACKED {
            let want = format!("hess of {} entries (the packed upper triangle)", Self::PACKED);
            return Err(D::Error::invalid_length(r.hess.len(), &want.as_str()));
        }
        x.grad.copy_from_slice(&r.grad);
        x.hess.as_mut().copy_from_slice(&r.hess);
        Ok(x)
    }
}

#[derive(Serialize)]
#[serde(rename = "Projection")]
struct ProjectionRef<'a, T> {
    value: &'a T,
    grad: &'a [T],
    hess: &'a [Vec<T>],
    passes: usize,
}

#[derive(Deserialize)]
#[serde(rename = "Projection")]
struct ProjectionRepr<T> {
    value: T,
    grad: Vec<T>,
    hess: Vec<Vec<T>>,
    #[serde(default)]
    passes: usize,
}

/// `value`, `grad`, `hess` (rows) and `passes`.
impl<T: Serialize> Serialize for Projection<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ProjectionRef { value: &self.value, grad: &self.grad, hess: &self.hess, passes: self.passes }
            .serialize(s)
    }
}

/// Checks that `hess` is `K×K` for the `K = grad.len()` directions; a missing `passes` is 0
/// (not recorded).
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Projection<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = ProjectionRepr::<T>::deserialize(d)?;
        let p = Projection { value: r.value, grad: r.grad, hess: r.hess, passes: r.passes };
        if p.check_shape().is_err() {
            let k = p.k();
            let want = format!("hess of {k}×{k} entries (one row and column per direction)");
            return Err(D::Error::invalid_length(p.hess.iter().map(Vec::len).sum(), &want.as_str()));
        }
        Ok(p)
    }
}
