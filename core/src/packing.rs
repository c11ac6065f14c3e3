//! Which boxes a shipment goes out in.
//!
//! Carriers charge per parcel and by (dimensional) weight, so the packer aims
//! for the fewest boxes first and then for the smallest ones. It is a
//! first-fit-decreasing heuristic, not an optimiser: good enough to buy labels
//! with, cheap enough to run on every order, and deterministic so a re-run
//! gives the same boxes.
//!
//! Capacity is judged by **volume**, which only approximates real 3D packing:
//! eight 1×1×1 items "fit" a 2×2×2 box by volume and in reality too, but an
//! L-shaped leftover space can pass the volume test while no item actually
//! fits into it. To stay on the safe side a box is only filled to
//! [`FILL_FACTOR`] of its inner volume, and every unit must fit the box's inner
//! dimensions on its own (in some axis-aligned orientation). A single unit in
//! an otherwise empty box is a true fit, so the fill factor does not apply to
//! it: a unit cut exactly to a box's inner size still goes in that box.
//!
//! A box never weighs more than its `max_grams`, which counts its own (tare)
//! weight; weight is exact, not approximated.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Share of a box's inner volume the packer fills. Items are rigid and rarely
/// tessellate, so planning for 100% would produce boxes that cannot be closed;
/// 90% leaves room for the gaps between items (and some dunnage).
pub const FILL_FACTOR: Decimal = Decimal::from_parts(9, 0, 0, false, 1);

/// Weight-to-volume guess for a unit whose dimensions nobody entered: 4 g per
/// cubic inch, about 0.25 g/cm³, the density of a typical packed retail item
/// (products plus their own packaging and air). Heavier units are then
/// assumed bigger, which keeps boxes from being overfilled with "weightless"
/// unknowns; a flat nominal volume would let any number of them share a box.
pub const UNKNOWN_GRAMS_PER_CUBIC_INCH: u32 = 4;

/// The most units one call packs. An order beyond this is freight, not
/// parcels, and refusing it keeps a bad quantity (say 4 billion) from taking
/// the worker's memory.
pub const MAX_UNITS: u64 = 10_000;

/// Length, width and height in inches. The order does not matter: the packer
/// tries every axis-aligned orientation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dims {
    pub length_in: Decimal,
    pub width_in: Decimal,
    pub height_in: Decimal,
}

impl Dims {
    pub fn new(length_in: Decimal, width_in: Decimal, height_in: Decimal) -> Dims {
        Dims {
            length_in,
            width_in,
            height_in,
        }
    }

    /// The three sides, shortest first: comparing two sorted triples
    /// side-by-side is exactly "some rotation of one fits in the other".
    fn sorted(&self) -> [Decimal; 3] {
        let mut s = [self.length_in, self.width_in, self.height_in];
        s.sort();
        s
    }

    /// `None` when the product does not fit a `Decimal` (absurd input).
    fn volume(&self) -> Option<Decimal> {
        self.length_in
            .checked_mul(self.width_in)?
            .checked_mul(self.height_in)
    }

    fn all_positive(&self) -> bool {
        self.length_in > Decimal::ZERO
            && self.width_in > Decimal::ZERO
            && self.height_in > Decimal::ZERO
    }

    /// Whether `self` fits inside `outer` turned some axis-aligned way.
    /// Diagonal placements are deliberately not considered: they are real
    /// for a single stick in an empty box but would break the volume model.
    fn fits_in(&self, outer: &Dims) -> bool {
        let (a, b) = (self.sorted(), outer.sorted());
        a[0] <= b[0] && a[1] <= b[1] && a[2] <= b[2]
    }
}

impl fmt::Display for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}×{}×{} in",
            self.length_in.normalize(),
            self.width_in.normalize(),
            self.height_in.normalize()
        )
    }
}

/// A box type from the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoxType {
    pub name: String,
    /// Inner dimensions: what the contents have, not what the carrier measures.
    pub inner: Dims,
    /// The most the packed box may weigh, its own weight included.
    pub max_grams: u32,
    /// The empty box's own weight.
    pub tare_grams: u32,
}

/// Units of one sku to pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackItem {
    pub sku: String,
    pub quantity: u32,
    /// One unit's dimensions. `None`, or any side zero or negative (which is
    /// what channels send when nobody filled the field in), means unknown: the
    /// unit is then assumed to fit any box's shape and to take a nominal volume
    /// derived from its weight (see [`UNKNOWN_GRAMS_PER_CUBIC_INCH`]).
    pub dims: Option<Dims>,
    /// One unit's weight.
    pub grams: u32,
}

/// One box of the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackedBox {
    pub box_name: String,
    /// The box type's inner dimensions.
    pub dims: Dims,
    /// Sku and number of units, in the order the skus were first packed
    /// (largest units first).
    pub contents: Vec<(String, u32)>,
    /// Contents plus the box's own weight: what the label is bought for.
    pub weight_grams: u32,
}

/// Why a shipment could not be packed. The messages are meant for the person
/// who can fix it: whoever maintains the box list or the sku data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackingError {
    #[error(
        "no boxes are configured, so nothing can be packed; add box types to the shipping settings"
    )]
    NoBoxes,
    /// A box type whose numbers cannot be right (a zero side, a maximum weight
    /// that the empty box already reaches).
    #[error("box \"{name}\" is misconfigured: {reason}")]
    InvalidBox { name: String, reason: String },
    /// No box is big enough for one unit of `sku` in any orientation.
    #[error("{reason}")]
    ItemTooLarge { sku: String, reason: String },
    /// Every box big enough for one unit of `sku` would be over its maximum
    /// weight with that unit alone.
    #[error("{reason}")]
    TooHeavy { sku: String, reason: String },
    #[error("{units} units to pack, more than the {limit} a parcel shipment can hold; split the order or ship it as freight")]
    TooManyUnits { units: u64, limit: u64 },
}

/// A box type with the numbers the packer needs precomputed.
struct Kind<'a> {
    index: usize,
    spec: &'a BoxType,
    volume: Decimal,
    /// The volume a box of several units may take up.
    usable: Decimal,
    /// The most its contents may weigh.
    payload: u64,
}

/// One unit to place.
#[derive(Clone)]
struct Unit<'a> {
    sku: &'a str,
    /// `None`: unknown dimensions, fits any box's shape.
    dims: Option<Dims>,
    volume: Decimal,
    grams: u64,
}

impl Unit<'_> {
    fn fits_shape(&self, kind: &Kind) -> bool {
        match &self.dims {
            Some(d) => d.fits_in(&kind.spec.inner),
            None => self.volume <= kind.volume,
        }
    }
}

/// A box being filled.
struct Open<'a> {
    kind: usize,
    units: Vec<Unit<'a>>,
    volume: Decimal,
    grams: u64,
}

/// Whether `units` (with total `volume` and `grams`) may all go in `kind`.
fn holds(kind: &Kind, units: &[Unit], volume: Decimal, grams: u64) -> bool {
    if grams > kind.payload || !units.iter().all(|u| u.fits_shape(kind)) {
        return false;
    }
    units.len() <= 1 || volume <= kind.usable
}

/// Packs `items` into boxes of the types in `boxes`.
///
/// Units are placed largest first (by volume, then weight) into the first
/// open box that takes them; when none does, a new box is opened: the smallest
/// type that holds this unit and everything still to be packed if there is
/// one (the last box of the shipment), else the roomiest type that takes the
/// unit, so that few boxes are needed. Opening the smallest box that fits the
/// current unit alone would, for ten units that fit one large box together,
/// produce several small boxes instead. Afterwards each box is swapped for the
/// smallest type that still holds its contents.
///
/// "Smallest" is by inner volume, then by the order the types are configured
/// in. Quantities of zero are skipped; no units gives no boxes.
pub fn pack(items: &[PackItem], boxes: &[BoxType]) -> Result<Vec<PackedBox>, PackingError> {
    let kinds = kinds(boxes)?;
    let mut units = units(items, &kinds)?;
    for unit in &units {
        check_unit_fits_somewhere(unit, &kinds)?;
    }
    // Stable: equal units keep the input order, so results are reproducible.
    units.sort_by(|a, b| b.volume.cmp(&a.volume).then(b.grams.cmp(&a.grams)));

    // Suffix sums of the units still to pack, for "does one box take the rest".
    let mut rest_volume = vec![Decimal::ZERO; units.len() + 1];
    let mut rest_grams = vec![0u64; units.len() + 1];
    for i in (0..units.len()).rev() {
        rest_volume[i] = rest_volume[i + 1].saturating_add(units[i].volume);
        rest_grams[i] = rest_grams[i + 1].saturating_add(units[i].grams);
    }

    let mut open: Vec<Open> = Vec::new();
    for (i, unit) in units.iter().enumerate() {
        let placed = open.iter_mut().find(|b| {
            let kind = &kinds[b.kind];
            let grams = b.grams.saturating_add(unit.grams);
            let volume = b.volume.saturating_add(unit.volume);
            grams <= kind.payload && unit.fits_shape(kind) && volume <= kind.usable
        });
        if let Some(b) = placed {
            b.grams = b.grams.saturating_add(unit.grams);
            b.volume = b.volume.saturating_add(unit.volume);
            b.units.push(unit.clone());
            continue;
        }
        let rest = &units[i..];
        let kind = kinds
            .iter()
            .find(|k| holds(k, rest, rest_volume[i], rest_grams[i]))
            .or_else(|| {
                kinds
                    .iter()
                    .filter(|k| unit.grams <= k.payload && unit.fits_shape(k))
                    .max_by(|a, b| {
                        a.volume
                            .cmp(&b.volume)
                            .then(a.payload.cmp(&b.payload))
                            // Equal boxes: prefer the one configured first.
                            .then(b.index.cmp(&a.index))
                    })
            });
        // check_unit_fits_somewhere made sure some kind takes the unit alone.
        let Some(kind) = kind else {
            return Err(too_large(unit, &kinds));
        };
        open.push(Open {
            kind: kind.index,
            units: vec![unit.clone()],
            volume: unit.volume,
            grams: unit.grams,
        });
    }

    Ok(open
        .into_iter()
        .map(|mut b| {
            if let Some(k) = kinds.iter().find(|k| holds(k, &b.units, b.volume, b.grams)) {
                b.kind = k.index;
            }
            packed(b, &kinds)
        })
        .collect())
}

/// The box types, validated, smallest first.
fn kinds(boxes: &[BoxType]) -> Result<Vec<Kind<'_>>, PackingError> {
    if boxes.is_empty() {
        return Err(PackingError::NoBoxes);
    }
    let mut kinds = Vec::with_capacity(boxes.len());
    for spec in boxes {
        let invalid = |reason: String| PackingError::InvalidBox {
            name: spec.name.clone(),
            reason,
        };
        if !spec.inner.all_positive() {
            return Err(invalid(format!(
                "inner dimensions {} must all be more than zero",
                spec.inner
            )));
        }
        let Some(volume) = spec.inner.volume() else {
            return Err(invalid(format!(
                "inner dimensions {} are too large to compute with",
                spec.inner
            )));
        };
        if spec.max_grams <= spec.tare_grams {
            return Err(invalid(format!(
                "maximum weight {} g is not more than the empty box's {} g",
                spec.max_grams, spec.tare_grams
            )));
        }
        kinds.push(Kind {
            index: 0,
            spec,
            volume,
            usable: volume * FILL_FACTOR,
            payload: u64::from(spec.max_grams - spec.tare_grams),
        });
    }
    kinds.sort_by_key(|k| k.volume);
    // `index` is the position in the sorted list, which `pack` indexes by.
    for (i, k) in kinds.iter_mut().enumerate() {
        k.index = i;
    }
    Ok(kinds)
}

/// One entry per unit, with unknown dimensions resolved.
fn units<'a>(items: &'a [PackItem], kinds: &[Kind]) -> Result<Vec<Unit<'a>>, PackingError> {
    let total: u64 = items.iter().map(|i| u64::from(i.quantity)).sum();
    if total > MAX_UNITS {
        return Err(PackingError::TooManyUnits {
            units: total,
            limit: MAX_UNITS,
        });
    }
    // An unknown unit never needs more than the roomiest box: if its weight
    // says otherwise the guess is wrong, not the box list.
    let roomiest = kinds
        .iter()
        .map(|k| k.volume)
        .max()
        .unwrap_or(Decimal::ZERO);
    let mut units = Vec::with_capacity(total as usize);
    for item in items.iter().filter(|i| i.quantity > 0) {
        let known = item.dims.filter(Dims::all_positive);
        let (dims, volume) = match known.map(|d| (d, d.volume())) {
            Some((d, Some(v))) => (Some(d), v),
            Some((d, None)) => {
                return Err(PackingError::ItemTooLarge {
                    sku: item.sku.clone(),
                    reason: format!(
                        "{} ({d}) fits no configured box; its dimensions are too large to be real",
                        item.sku
                    ),
                })
            }
            None => {
                let guess = Decimal::from(item.grams / UNKNOWN_GRAMS_PER_CUBIC_INCH)
                    .max(Decimal::ONE)
                    .min(roomiest);
                (None, guess)
            }
        };
        let unit = Unit {
            sku: &item.sku,
            dims,
            volume,
            grams: u64::from(item.grams),
        };
        units.extend(std::iter::repeat_n(unit, item.quantity as usize));
    }
    Ok(units)
}

/// Rejects a unit no box type can take even on its own.
fn check_unit_fits_somewhere(unit: &Unit, kinds: &[Kind]) -> Result<(), PackingError> {
    let shaped: Vec<&Kind> = kinds.iter().filter(|k| unit.fits_shape(k)).collect();
    if shaped.is_empty() {
        return Err(too_large(unit, kinds));
    }
    if shaped.iter().any(|k| unit.grams <= k.payload) {
        return Ok(());
    }
    let best = shaped.iter().max_by_key(|k| k.payload).copied();
    let limit = match best {
        Some(k) => format!(
            "the most any box it fits can carry is {} g ({}: {} g max, {} g empty)",
            k.payload, k.spec.name, k.spec.max_grams, k.spec.tare_grams
        ),
        None => String::from("no box it fits can carry it"),
    };
    Err(PackingError::TooHeavy {
        sku: unit.sku.to_string(),
        reason: format!(
            "{} weighs {} g per unit, too heavy for any configured box: {limit}; add a stronger box or check the sku's weight",
            unit.sku, unit.grams
        ),
    })
}

fn too_large(unit: &Unit, kinds: &[Kind]) -> PackingError {
    let size = match &unit.dims {
        Some(d) => d.to_string(),
        None => String::from("dimensions unknown"),
    };
    let largest = kinds
        .iter()
        .max_by(|a, b| a.volume.cmp(&b.volume).then(b.index.cmp(&a.index)))
        .map(|k| format!("the largest is {} ({})", k.spec.name, k.spec.inner))
        .unwrap_or_else(|| String::from("no box is configured"));
    PackingError::ItemTooLarge {
        sku: unit.sku.to_string(),
        reason: format!(
            "{} ({size}) fits no configured box in any orientation; {largest}; add a larger box or check the sku's dimensions",
            unit.sku
        ),
    }
}

fn packed(b: Open, kinds: &[Kind]) -> PackedBox {
    let kind = &kinds[b.kind];
    let mut contents: Vec<(String, u32)> = Vec::new();
    for unit in &b.units {
        match contents.iter_mut().find(|(sku, _)| sku == unit.sku) {
            Some((_, n)) => *n = n.saturating_add(1),
            None => contents.push((unit.sku.to_string(), 1)),
        }
    }
    // Contents never exceed the payload, so this is at most `max_grams`.
    let weight = b.grams.saturating_add(u64::from(kind.spec.tare_grams));
    PackedBox {
        box_name: kind.spec.name.clone(),
        dims: kind.spec.inner,
        contents,
        weight_grams: u32::try_from(weight).unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: &str) -> Decimal {
        v.parse().expect("decimal literal")
    }

    fn dims(l: &str, w: &str, h: &str) -> Dims {
        Dims::new(d(l), d(w), d(h))
    }

    fn bx(name: &str, l: &str, w: &str, h: &str, max: u32, tare: u32) -> BoxType {
        BoxType {
            name: name.into(),
            inner: dims(l, w, h),
            max_grams: max,
            tare_grams: tare,
        }
    }

    fn item(sku: &str, qty: u32, size: Option<(&str, &str, &str)>, grams: u32) -> PackItem {
        PackItem {
            sku: sku.into(),
            quantity: qty,
            dims: size.map(|(l, w, h)| dims(l, w, h)),
            grams,
        }
    }

    /// small 432 in³ (usable 388.8), medium 1200 (1080), large 3000 (2700).
    fn standard_boxes() -> Vec<BoxType> {
        vec![
            bx("large", "20", "15", "10", 20_000, 800),
            bx("small", "12", "9", "4", 5_000, 150),
            bx("medium", "15", "10", "8", 10_000, 400),
        ]
    }

    /// Box name, contents and weight of each box.
    type Summary<'a> = Vec<(&'a str, Vec<(&'a str, u32)>, u32)>;

    fn summary(packed: &[PackedBox]) -> Summary<'_> {
        packed
            .iter()
            .map(|b| {
                (
                    b.box_name.as_str(),
                    b.contents.iter().map(|(s, n)| (s.as_str(), *n)).collect(),
                    b.weight_grams,
                )
            })
            .collect()
    }

    #[test]
    fn packing_known_cases() {
        let cases: Vec<(&str, Vec<PackItem>, Summary<'static>)> = vec![
            (
                "three small items share one small box",
                vec![item("MUG", 3, Some(("4", "4", "4")), 300)],
                vec![("small", vec![("MUG", 3)], 1_050)],
            ),
            (
                "an item only the large box fits (a 19 in side)",
                vec![item("POSTER", 1, Some(("19", "3", "3")), 400)],
                vec![("large", vec![("POSTER", 1)], 1_200)],
            ),
            (
                "one unit cut to the small box's exact size ignores the fill factor",
                vec![item("TRAY", 1, Some(("4", "12", "9")), 1_000)],
                vec![("small", vec![("TRAY", 1)], 1_150)],
            ),
            (
                // 500 in³ each; the large box takes 5 (2500 ≤ 2700), the
                // remaining 5 need the large box again (medium takes 2).
                "10 items need 2 boxes",
                vec![item("CRATE", 10, Some(("10", "10", "5")), 1_000)],
                vec![
                    ("large", vec![("CRATE", 5)], 5_800),
                    ("large", vec![("CRATE", 5)], 5_800),
                ],
            ),
            (
                // 7 × 100 in³ fit the large box by volume; weight does not.
                "weight forces a second box though volume would fit",
                vec![item("IRON", 7, Some(("5", "5", "4")), 3_000)],
                vec![
                    ("large", vec![("IRON", 6)], 18_800),
                    // One iron alone: the smallest box that carries 3 kg.
                    ("small", vec![("IRON", 1)], 3_150),
                ],
            ),
            (
                "largest units go first, small ones fill the gaps",
                vec![
                    item("SOCK", 4, Some(("4", "3", "1")), 50),
                    item("BOOT", 2, Some(("13", "9", "5")), 900),
                ],
                vec![("large", vec![("BOOT", 2), ("SOCK", 4)], 2_800)],
            ),
            (
                "quantities of zero are skipped",
                vec![
                    item("GHOST", 0, Some(("50", "50", "50")), 99_000),
                    item("MUG", 1, Some(("4", "4", "4")), 300),
                ],
                vec![("small", vec![("MUG", 1)], 450)],
            ),
            ("nothing to pack, no boxes", vec![], vec![]),
            (
                // 800 g / 4 g per in³ = 200 in³ each; 600 in³ are more than
                // the small box's usable 388.8, so the medium box.
                "unknown dimensions take a volume from their weight",
                vec![
                    item("MYSTERY", 2, None, 800),
                    item("ZERO-DIMS", 1, Some(("0", "0", "0")), 800),
                ],
                vec![("medium", vec![("MYSTERY", 2), ("ZERO-DIMS", 1)], 2_800)],
            ),
        ];
        for (name, items, expected) in cases {
            let packed = pack(&items, &standard_boxes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(summary(&packed), expected, "{name}");
        }
    }

    #[test]
    fn packing_rotation_only_along_the_longest_axis() {
        // The 12 in cube's diagonal is 20.8 in, long enough for a 20 in rod
        // in reality, but the packer only turns items axis-aligned, so the rod
        // must go in the narrow tube whatever way round it is given.
        let boxes = vec![
            bx("cube", "12", "12", "12", 10_000, 300),
            bx("tube", "3", "22", "3", 10_000, 100),
        ];
        for size in [("20", "1", "1"), ("1", "20", "1"), ("1", "1", "20")] {
            let packed = pack(&[item("ROD", 1, Some(size), 200)], &boxes).expect("packs");
            assert_eq!(summary(&packed), vec![("tube", vec![("ROD", 1)], 300)]);
        }
        // Without the tube it fits nothing.
        let err = pack(&[item("ROD", 1, Some(("20", "1", "1")), 200)], &boxes[..1]).unwrap_err();
        assert!(matches!(err, PackingError::ItemTooLarge { ref sku, .. } if sku == "ROD"));
    }

    #[test]
    fn packing_errors_name_the_sku_and_what_to_do() {
        let err = pack(
            &[
                item("MUG", 1, Some(("4", "4", "4")), 300),
                item("SKU-9", 1, Some(("30", "20", "10")), 1_000),
            ],
            &standard_boxes(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PackingError::ItemTooLarge {
                sku: "SKU-9".into(),
                reason: "SKU-9 (30×20×10 in) fits no configured box in any orientation; \
                         the largest is large (20×15×10 in); add a larger box or check the sku's dimensions"
                    .into(),
            }
        );
        assert!(err
            .to_string()
            .starts_with("SKU-9 (30×20×10 in) fits no configured box"));

        // Fits the small box's shape, but only the large box carries 19 kg,
        // and it is still not enough for 25 kg.
        let err = pack(
            &[item("ANVIL", 1, Some(("6", "6", "3")), 25_000)],
            &standard_boxes(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ANVIL weighs 25000 g per unit, too heavy for any configured box: the most any box \
             it fits can carry is 19200 g (large: 20000 g max, 800 g empty); add a stronger box \
             or check the sku's weight"
        );
        assert!(matches!(err, PackingError::TooHeavy { ref sku, .. } if sku == "ANVIL"));

        // Too heavy for the only box long enough; the strong box would carry
        // it but is too short: the message names the box it fits.
        let boxes = vec![
            bx("long", "30", "4", "4", 2_000, 200),
            bx("strong", "10", "10", "10", 50_000, 500),
        ];
        let err = pack(&[item("BAR", 1, Some(("28", "2", "2")), 5_000)], &boxes).unwrap_err();
        assert!(err.to_string().contains("1800 g (long:"), "{err}");

        assert_eq!(pack(&[], &[]).unwrap_err(), PackingError::NoBoxes);
        assert!(matches!(
            pack(&[], &[bx("flat", "10", "0", "5", 1_000, 10)]).unwrap_err(),
            PackingError::InvalidBox { ref name, .. } if name == "flat"
        ));
        assert!(matches!(
            pack(&[], &[bx("paper", "10", "10", "5", 100, 100)]).unwrap_err(),
            PackingError::InvalidBox { .. }
        ));
        assert!(matches!(
            pack(&[item("PIN", u32::MAX, None, 1)], &standard_boxes()).unwrap_err(),
            PackingError::TooManyUnits { .. }
        ));
    }

    #[test]
    fn packing_absurd_numbers_do_not_panic() {
        let huge = Decimal::MAX.to_string();
        let boxes = vec![
            bx("small", "12", "9", "4", u32::MAX, 0),
            bx("big", &huge, "1", "1", u32::MAX, u32::MAX - 1),
        ];
        let items = vec![
            item("A", 3, Some((&huge, &huge, &huge)), u32::MAX),
            item("B", 3, None, u32::MAX),
            item("C", 3, Some(("-1", "2", "3")), 0),
        ];
        for one in items.chunks(1) {
            let _ = pack(one, &boxes);
        }
        let _ = pack(&items, &boxes);
        let _ = pack(&items, &[bx("huge", &huge, &huge, &huge, 10, 0)]);
        // u32::MAX grams per unit and a box that carries exactly that: one
        // unit per box, weights summed without overflow.
        let packed = pack(&[item("B", 3, None, u32::MAX)], &boxes[..1]).expect("packs");
        assert_eq!(packed.len(), 3);
        assert!(packed.iter().all(|b| b.weight_grams == u32::MAX));
    }

    /// A tiny deterministic generator (xorshift), so the test needs no crate
    /// and always checks the same orders.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn inches(&mut self, max_quarters: u64) -> Decimal {
            Decimal::new(1 + self.below(max_quarters) as i64, 0) / Decimal::new(4, 0)
        }
    }

    #[test]
    fn packing_random_orders_never_overweight_and_lose_nothing() {
        let boxes = standard_boxes();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut ok, mut errors) = (0, 0);
        for order in 0..400 {
            let lines = 1 + rng.below(5);
            let items: Vec<PackItem> = (0..lines)
                .map(|line| PackItem {
                    sku: format!("SKU-{order}-{line}"),
                    quantity: rng.below(8) as u32,
                    dims: if rng.below(6) == 0 {
                        None
                    } else {
                        // Up to 22 in: now and then too large for every box.
                        Some(Dims::new(rng.inches(88), rng.inches(40), rng.inches(40)))
                    },
                    // Up to 21 kg: now and then too heavy for every box.
                    grams: {
                        let heavy = rng.below(10) == 0;
                        1 + rng.below(if heavy { 21_000 } else { 4_000 }) as u32
                    },
                })
                .collect();
            let packed = match pack(&items, &boxes) {
                Ok(p) => p,
                Err(
                    PackingError::ItemTooLarge { sku, .. } | PackingError::TooHeavy { sku, .. },
                ) => {
                    let it = items.iter().find(|i| i.sku == sku).expect("names a sku");
                    let alone = pack(
                        &[PackItem {
                            quantity: 1,
                            ..it.clone()
                        }],
                        &boxes,
                    );
                    assert!(alone.is_err(), "order {order}: {sku} packs on its own");
                    errors += 1;
                    continue;
                }
                Err(e) => panic!("order {order}: {e}"),
            };
            ok += 1;
            for b in &packed {
                let spec = boxes
                    .iter()
                    .find(|t| t.name == b.box_name)
                    .expect("a configured box");
                assert!(
                    b.weight_grams <= spec.max_grams,
                    "order {order}: {b:?} over {}",
                    spec.max_grams
                );
                let mut grams = u64::from(spec.tare_grams);
                let mut volume = Decimal::ZERO;
                let mut units = 0;
                for (sku, n) in &b.contents {
                    let it = items.iter().find(|i| &i.sku == sku).expect("a packed sku");
                    grams += u64::from(it.grams) * u64::from(*n);
                    units += n;
                    if let Some(dm) = it.dims {
                        assert!(
                            dm.fits_in(&spec.inner),
                            "order {order}: {sku} in {}",
                            b.box_name
                        );
                        volume += dm.volume().expect("small") * Decimal::from(*n);
                    }
                }
                assert_eq!(u64::from(b.weight_grams), grams, "order {order}");
                assert!(units >= 1, "order {order}: empty box");
                if units > 1 {
                    let usable = spec.inner.volume().expect("small") * FILL_FACTOR;
                    assert!(volume <= usable, "order {order}: {b:?} overfilled");
                }
            }
            for it in &items {
                let n: u32 = packed
                    .iter()
                    .flat_map(|b| &b.contents)
                    .filter(|(s, _)| s == &it.sku)
                    .map(|(_, n)| n)
                    .sum();
                assert_eq!(n, it.quantity, "order {order}: {} packed {n} times", it.sku);
            }
            // Deterministic: the same order packs the same way.
            assert_eq!(pack(&items, &boxes).expect("packed before"), packed);
        }
        assert!(
            ok > 200 && errors > 10,
            "generator covers both: {ok} packed, {errors} refused"
        );
    }
}
