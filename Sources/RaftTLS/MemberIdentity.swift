import NIOSSL

/// A member's identity as its peer certificate states it: subject common name `member-<id>`
/// (README, "Transport security"). The id is what the connection authenticated, and every
/// envelope on it must carry it as `from_id`.
public enum MemberIdentity {
    public static let commonNamePrefix = "member-"

    /// The certificate's subject common name (the last one, as TLS hostname checks read it).
    public static func commonName(of certificate: NIOSSLCertificate) -> String? {
        certificate.subjectName.last(where: { $0.type == .commonName })?.value
    }

    /// The member id named by `certificate`, nil when its common name is not `member-<id>` with
    /// `id` a positive decimal number without leading zeros or signs.
    public static func memberID(of certificate: NIOSSLCertificate) -> UInt64? {
        commonName(of: certificate).flatMap(memberID(inCommonName:))
    }

    public static func memberID(inCommonName name: String) -> UInt64? {
        guard name.hasPrefix(commonNamePrefix) else { return nil }
        let digits = name.dropFirst(commonNamePrefix.count)
        guard let first = digits.first, first != "0", digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            let id = UInt64(digits)
        else { return nil }
        return id
    }

    /// A check for `TLSCredentials(validate:)`: this side's certificate must name member `id`.
    /// A member whose peer certificate names another id would be refused by every other member.
    public static func certificateMustName(
        member id: UInt64, file: String?
    ) -> @Sendable (NIOSSLCertificate?) throws -> Void {
        { certificate in
            guard certificate.flatMap(memberID(of:)) == id else {
                let named = certificate.flatMap(commonName(of:)) ?? "no common name"
                throw TLSSetupError(
                    "\(file ?? "the certificate") names \(named), but this is member \(id): its certificate must have subject CN \(commonNamePrefix)\(id)"
                )
            }
        }
    }
}
