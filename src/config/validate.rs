pub fn load() {}
pub fn load_str() {}
