//! The effective settings: what the password-changing and login stacks
//! really enforce, each value with where it came from.
//!
//! Order, as the modules apply it: login.defs for aging and the hash; for
//! `pam_pwquality` libpwquality's defaults, then `pwquality.conf.d/*.conf`
//! (lexical), then `pwquality.conf`, then the module's arguments; for
//! `pam_faillock` and `pam_pwhistory` their defaults, their conf file, then
//! their arguments. A setting counts as enforced only when the module's
//! refusal fails the stack and nothing earlier can skip it (see
//! [`super::stack`]), and, for pwquality, when `enforcing` is on.

use std::collections::{BTreeMap, HashMap};

use fleetwatch_protocol::{PasswordSettings, SettingOrigin};

use super::faillock::{self, Faillock, Pwhistory};
use super::login_defs::LoginDefs;
use super::origin::{Origin, Sourced};
use super::pam::{PamRule, Return};
use super::pwquality::{ConfLine, Pwquality};
use super::stack::{Enforcement, StackRule, enforcement};

/// Everything read from the host, already parsed; paths are host paths.
#[derive(Debug, Default)]
pub(crate) struct Inputs {
    pub(crate) login_defs: Option<(String, LoginDefs)>,
    /// pwquality conf files in libpwquality's read order (`.d` files, then
    /// the main file), split into lines.
    pub(crate) pwquality: Vec<(String, Vec<ConfLine>)>,
    /// The faillock.conf pam_faillock reads by default (`/etc` or vendor).
    pub(crate) faillock_conf: Option<(String, String)>,
    /// The pwhistory.conf pam_pwhistory reads by default.
    pub(crate) pwhistory_conf: Option<(String, String)>,
    /// Files named by `conf=` arguments, by path.
    pub(crate) conf_files: HashMap<String, String>,
    /// The `password` stacks of the services that change passwords.
    pub(crate) password_stacks: Vec<Vec<StackRule>>,
    /// The `auth` stacks that logins go through.
    pub(crate) auth_stacks: Vec<Vec<StackRule>>,
}

/// Hash algorithms `pam_unix` accepts as options.
const PAM_UNIX_HASHES: [&str; 7] = [
    "md5",
    "bigcrypt",
    "sha256",
    "sha512",
    "blowfish",
    "gost_yescrypt",
    "yescrypt",
];

/// What pam_pwquality, pam_pwhistory and pam_faillock return when they refuse.
const PASSWORD_REFUSALS: [Return; 2] = [Return::AuthtokErr, Return::Maxtries];
const AUTH_REFUSALS: [Return; 1] = [Return::AuthErr];

/// One effective setting.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Setting<T> {
    value: T,
    origin: Origin,
    module: String,
    enforcement: Enforcement,
    enforce_for_root: Option<bool>,
}

impl<T: Clone> Setting<T> {
    fn from(s: &Sourced<T>, module: &str, enforcement: &Enforcement) -> Self {
        Setting {
            value: s.value.clone(),
            origin: s.origin.clone(),
            module: module.to_string(),
            enforcement: enforcement.clone(),
            enforce_for_root: None,
        }
    }

    fn for_root(mut self, enforce_for_root: Option<bool>) -> Self {
        self.enforce_for_root = enforce_for_root;
        self
    }

    fn wire(&self) -> SettingOrigin {
        let mut o = self.origin.to_wire(Some(&self.module));
        o.enforced = Some(self.enforcement.is_enforced());
        if let Enforcement::NotEnforced(why) = &self.enforcement {
            o.not_enforced_reason = Some(why.clone());
        }
        o.enforce_for_root = self.enforce_for_root;
        o
    }
}

/// Picks the weaker of two settings: a missing or unenforced one first,
/// then the one `weaker` says.
fn weakest<T>(
    a: Option<Setting<T>>,
    b: Option<Setting<T>>,
    weaker: fn(&T, &T) -> bool,
) -> Option<Setting<T>> {
    match (a, b) {
        (Some(a), Some(b)) => {
            let (ae, be) = (a.enforcement.is_enforced(), b.enforcement.is_enforced());
            if ae != be {
                return Some(if ae { b } else { a });
            }
            Some(if weaker(&b.value, &a.value) { b } else { a })
        }
        _ => None,
    }
}

/// The password-change settings of one stack.
#[derive(Debug, Clone, Default)]
struct PasswordRules {
    min_length: Option<Setting<u32>>,
    min_classes: Option<Setting<u32>>,
    credits: [Option<Setting<i32>>; 4],
    history: Option<Setting<u32>>,
    hash: Option<Setting<String>>,
    /// The PAM files whose rules counted.
    files: Vec<String>,
}

impl PasswordRules {
    fn weakest(self, other: PasswordRules) -> PasswordRules {
        let [a0, a1, a2, a3] = self.credits;
        let [b0, b1, b2, b3] = other.credits;
        // A credit closer to positive asks for less.
        let credit = |a, b| weakest(a, b, |x: &i32, y: &i32| x > y);
        let mut files = self.files;
        files.extend(other.files);
        PasswordRules {
            min_length: weakest(self.min_length, other.min_length, |x, y| x < y),
            min_classes: weakest(self.min_classes, other.min_classes, |x, y| x < y),
            credits: [
                credit(a0, b0),
                credit(a1, b1),
                credit(a2, b2),
                credit(a3, b3),
            ],
            history: weakest(self.history, other.history, |x, y| x < y),
            hash: self.hash.or(other.hash),
            files,
        }
    }
}

/// The libpwquality state the conf files leave, and the files that set
/// anything, in read order.
fn pwquality_from_files(inputs: &Inputs) -> (Pwquality, Vec<String>) {
    let mut q = Pwquality::default();
    let mut read = Vec::new();
    for (path, lines) in &inputs.pwquality {
        let before = q.clone();
        let result = q.apply_file(lines, path);
        if q != before {
            read.push(path.clone());
        }
        if let Err(e) = result {
            // pwquality_read_config stops here: later files are not read.
            tracing::debug!(?e, %path, "libpwquality stops reading its configuration");
            break;
        }
    }
    (q, read)
}

fn password_rules(stack: &[StackRule], base: &Pwquality, inputs: &Inputs) -> PasswordRules {
    let mut out = PasswordRules::default();
    let find = |module: &str| stack.iter().position(|r| r.rule.module == module);

    if let Some(at) = find("pam_pwquality") {
        let r = &stack[at];
        let mut q = base.clone();
        q.apply_pam_args(&r.rule.args, &r.path);
        let mut e = enforcement(stack, at, &PASSWORD_REFUSALS);
        if e.is_enforced() && !q.enforcing.value {
            let from = q.enforcing.origin.path().unwrap_or("?");
            e = Enforcement::NotEnforced(format!(
                "pam_pwquality only warns: enforcing=0 in {from}"
            ));
        }
        let root = Some(q.enforce_for_root.value);
        let m = "pam_pwquality";
        out.min_length = Some(Setting::from(&q.minlen, m, &e).for_root(root));
        out.min_classes = Some(Setting::from(&q.minclass, m, &e).for_root(root));
        out.credits = [&q.dcredit, &q.ucredit, &q.lcredit, &q.ocredit]
            .map(|c| Some(Setting::from(c, m, &e).for_root(root)));
        out.files.push(r.path.clone());
    } else if let Some(at) = find("pam_cracklib") {
        // pam_cracklib reads no file; only what its arguments say is reported.
        let r = &stack[at];
        let e = enforcement(stack, at, &PASSWORD_REFUSALS);
        let arg = |name: &str| {
            r.rule
                .kv_args()
                .filter(|(k, _)| *k == name)
                .filter_map(|(_, v)| v.parse::<i32>().ok())
                .last()
                .map(|v| {
                    Setting::from(
                        &Sourced::new(v, Origin::PamArgument(r.path.clone())),
                        "pam_cracklib",
                        &e,
                    )
                })
        };
        let unsigned = |s: Option<Setting<i32>>| {
            s.and_then(|s| {
                let v = u32::try_from(s.value).ok()?;
                Some(Setting {
                    value: v,
                    origin: s.origin,
                    module: s.module,
                    enforcement: s.enforcement,
                    enforce_for_root: None,
                })
            })
        };
        out.min_length = unsigned(arg("minlen"));
        out.min_classes = unsigned(arg("minclass"));
        out.credits = [
            arg("dcredit"),
            arg("ucredit"),
            arg("lcredit"),
            arg("ocredit"),
        ];
        let any = out.min_length.is_some()
            || out.min_classes.is_some()
            || out.credits.iter().any(Option::is_some);
        if any {
            out.files.push(r.path.clone());
        }
    }

    // History: pam_pwhistory and pam_unix remember= both refuse reuse; the
    // stricter enforced one binds.
    let mut history: Option<Setting<u32>> = None;
    if let Some(at) = find("pam_pwhistory") {
        let r = &stack[at];
        let mut h = Pwhistory::default();
        if let Some((path, text)) = conf_file(&r.rule, &inputs.pwhistory_conf, inputs) {
            h.apply_file(text, path);
        }
        h.apply_pam_args(&r.rule, &r.path);
        let mut s = Setting::from(
            &h.remember,
            "pam_pwhistory",
            &enforcement(stack, at, &PASSWORD_REFUSALS),
        );
        s.enforce_for_root = Some(h.enforce_for_root.value);
        history = Some(s);
        out.files.push(r.path.clone());
    }
    if let Some(at) = find("pam_unix") {
        let r = &stack[at];
        let e = enforcement(stack, at, &PASSWORD_REFUSALS);
        let origin = Origin::PamArgument(r.path.clone());
        let mut used = false;
        if let Some(hash) = r
            .rule
            .args
            .iter()
            .rev()
            .find(|a| PAM_UNIX_HASHES.contains(&a.as_str()))
        {
            out.hash = Some(Setting::from(
                &Sourced::new(hash.clone(), origin.clone()),
                "pam_unix",
                &e,
            ));
            used = true;
        }
        let number = |name: &str| {
            r.rule
                .kv_args()
                .filter(|(k, _)| *k == name)
                .filter_map(|(_, v)| v.parse::<u32>().ok())
                .last()
        };
        if let Some(n) = number("remember") {
            let unix = Setting::from(&Sourced::new(n, origin.clone()), "pam_unix", &e);
            history = match history {
                Some(h) if stronger(&h, &unix) => Some(h),
                _ => Some(unix),
            };
            used = true;
        }
        if out.min_length.is_none()
            && let Some(n) = number("minlen")
        {
            out.min_length = Some(Setting::from(&Sourced::new(n, origin), "pam_unix", &e));
            used = true;
        }
        if used {
            out.files.push(r.path.clone());
        }
    }
    out.history = history;
    out
}

/// `a` binds at least as much as `b`.
fn stronger(a: &Setting<u32>, b: &Setting<u32>) -> bool {
    match (a.enforcement.is_enforced(), b.enforcement.is_enforced()) {
        (true, false) => true,
        (false, true) => false,
        _ => a.value >= b.value,
    }
}

/// The file a module reads: its `conf=` argument, else the default one.
fn conf_file<'a>(
    rule: &PamRule,
    default: &'a Option<(String, String)>,
    inputs: &'a Inputs,
) -> Option<(&'a str, &'a str)> {
    match rule.kv_args().filter(|(k, _)| *k == "conf").last() {
        Some((_, path)) => inputs
            .conf_files
            .get_key_value(path)
            .map(|(p, t)| (p.as_str(), t.as_str())),
        None => default.as_ref().map(|(p, t)| (p.as_str(), t.as_str())),
    }
}

/// The lockout of one auth stack.
#[derive(Debug, Clone, Default)]
struct Lockout {
    threshold: Option<Setting<u32>>,
    unlock: Option<Setting<u64>>,
    files: Vec<String>,
}

fn lockout(stack: &[StackRule], inputs: &Inputs) -> Lockout {
    let mut out = Lockout::default();
    // Each pam_faillock / pam_tally2 line parses its own arguments; the
    // strictest line whose refusal fails the stack decides.
    let mut best: Option<(Setting<u32>, Setting<u64>)> = None;
    let mut consider = |f: Faillock, module: &str, e: Enforcement| {
        let t = Setting::from(&f.deny, module, &e);
        let u = Setting::from(&f.unlock_time, module, &e);
        let better = match &best {
            None => true,
            Some((bt, _)) => match (bt.enforcement.is_enforced(), e.is_enforced()) {
                (false, true) => true,
                (true, false) => false,
                // 0 means no lockout: the weakest.
                _ => t.value != 0 && (bt.value == 0 || t.value < bt.value),
            },
        };
        if better {
            best = Some((t, u));
        }
    };
    for (at, r) in stack.iter().enumerate() {
        let module = r.rule.module.as_str();
        if module != "pam_faillock" && module != "pam_tally2" {
            continue;
        }
        // Only its control decides: the authfail line sits after the
        // password check by design, and a success there skips it.
        let e = match enforcement(&stack[at..=at], 0, &AUTH_REFUSALS) {
            Enforcement::Enforced => Enforcement::Enforced,
            Enforcement::NotEnforced(_) => Enforcement::NotEnforced(format!(
                "{module} is `{}` in {}: its refusal is ignored",
                r.rule.control.text, r.path
            )),
        };
        let f = if module == "pam_tally2" {
            faillock::tally2(&[(&r.rule, r.path.as_str())])
        } else {
            let mut f = Faillock::default();
            if let Some((path, text)) = conf_file(&r.rule, &inputs.faillock_conf, inputs) {
                f.apply_file(text, path);
            }
            f.apply_pam_args(&r.rule, &r.path);
            f
        };
        consider(f, module, e);
        if !out.files.contains(&r.path) {
            out.files.push(r.path.clone());
        }
    }
    if let Some((t, u)) = best {
        // With deny=0 nothing locks, so no unlock time applies.
        if t.value != 0 {
            out.unlock = Some(u);
        }
        out.threshold = Some(t);
    }
    out
}

impl Lockout {
    fn weakest(self, other: Lockout) -> Lockout {
        let mut files = self.files;
        files.extend(other.files);
        // 0 means no lockout; otherwise a higher threshold is weaker.
        let threshold = weakest(self.threshold, other.threshold, |x, y| {
            *x == 0 || (*y != 0 && x > y)
        });
        // 0 means "never unlocks": the strictest; a shorter time is weaker.
        let unlock = weakest(self.unlock, other.unlock, |x, y| {
            *x != 0 && (*y == 0 || x < y)
        });
        Lockout {
            threshold,
            unlock,
            files,
        }
    }
}

/// Appends `path` to `sources` once.
fn add(sources: &mut Vec<String>, path: &str) {
    if !sources.iter().any(|p| p == path) {
        sources.push(path.to_string());
    }
}

/// The effective settings, the files that contributed (in the order they
/// were applied) and where each reported setting came from.
pub(crate) fn merge(
    inputs: &Inputs,
) -> (
    PasswordSettings,
    Vec<String>,
    BTreeMap<String, SettingOrigin>,
) {
    let mut s = PasswordSettings::default();
    let mut sources: Vec<String> = Vec::new();
    let mut origins = BTreeMap::new();
    let no_pam = inputs.password_stacks.is_empty() && inputs.auth_stacks.is_empty();

    if let Some((path, defs)) = &inputs.login_defs {
        s.max_days = defs.pass_max_days;
        s.min_days = defs.pass_min_days;
        s.warn_days = defs.pass_warn_age;
        s.hash_algorithm = defs.encrypt_method.clone();
        let file = Origin::File(path.clone()).to_wire(None);
        for (name, set) in [
            ("max_days", s.max_days.is_some()),
            ("min_days", s.min_days.is_some()),
            ("warn_days", s.warn_days.is_some()),
            ("hash_algorithm", s.hash_algorithm.is_some()),
        ] {
            if set {
                origins.insert(name.to_string(), file.clone());
            }
        }
        // PASS_MIN_LEN is ignored by PAM's passwd; it counts only without PAM.
        if no_pam && defs.pass_min_len.is_some() {
            s.min_length = defs.pass_min_len;
            origins.insert("min_length".into(), file);
        }
        if !defs.is_empty() {
            add(&mut sources, path);
        }
    }

    let (base, pwq_files) = pwquality_from_files(inputs);
    let rules = inputs
        .password_stacks
        .iter()
        .map(|stack| password_rules(stack, &base, inputs))
        .reduce(PasswordRules::weakest)
        .unwrap_or_default();
    let quality_in_use = rules
        .min_length
        .as_ref()
        .is_some_and(|m| m.module == "pam_pwquality");
    if quality_in_use {
        for path in &pwq_files {
            add(&mut sources, path);
        }
    }
    if let Some(h) = &rules.history
        && let Origin::File(path) = &h.origin
    {
        add(&mut sources, path);
    }

    let lock = inputs
        .auth_stacks
        .iter()
        .map(|stack| lockout(stack, inputs))
        .reduce(Lockout::weakest)
        .unwrap_or_default();
    let lock_origins = [
        lock.threshold.as_ref().map(|t| &t.origin),
        lock.unlock.as_ref().map(|u| &u.origin),
    ];
    for origin in lock_origins.into_iter().flatten() {
        if let Origin::File(path) = origin {
            add(&mut sources, path);
        }
    }
    for path in rules.files.iter().chain(&lock.files) {
        add(&mut sources, path);
    }

    let mut put = |name: &str, o: SettingOrigin| {
        origins.insert(name.to_string(), o);
    };
    if let Some(m) = &rules.min_length {
        s.min_length = Some(m.value);
        put("min_length", m.wire());
    }
    if let Some(m) = &rules.min_classes {
        s.min_classes = Some(m.value);
        put("min_classes", m.wire());
    }
    let [d, u, l, o] = &rules.credits;
    for (name, slot, c) in [
        ("dcredit", &mut s.dcredit, d),
        ("ucredit", &mut s.ucredit, u),
        ("lcredit", &mut s.lcredit, l),
        ("ocredit", &mut s.ocredit, o),
    ] {
        if let Some(c) = c {
            *slot = Some(c.value);
            put(name, c.wire());
        }
    }
    if let Some(h) = &rules.history {
        s.history = Some(h.value);
        put("history", h.wire());
    }
    if let Some(h) = &rules.hash {
        s.hash_algorithm = Some(h.value.clone());
        put("hash_algorithm", h.wire());
    }
    if let Some(t) = &lock.threshold {
        s.lockout_threshold = Some(t.value);
        put("lockout_threshold", t.wire());
    }
    if let Some(u) = &lock.unlock {
        s.lockout_unlock_seconds = Some(u.value);
        put("lockout_unlock_seconds", u.wire());
    }
    (s, sources, origins)
}
