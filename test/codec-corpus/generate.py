# Regenerates the corpus files in this folder (run: cd test/codec-corpus && python3 generate.py).
# The files are committed; corpus.test.ts lists each one with the outcome it must get.
import gzip, zlib, os
ENV='http://schemas.xmlsoap.org/soap/envelope/'
ENC='http://schemas.xmlsoap.org/soap/encoding/'
XSD='http://www.w3.org/2001/XMLSchema'
XSI='http://www.w3.org/2001/XMLSchema-instance'
def inform(env='soapenv', cwmp='cwmp', ns='urn:dslforum-org:cwmp-1-0', enc='soapenc', manuf='Grandstream', extra_pvs='', events=None, decl='<?xml version="1.0" encoding="UTF-8"?>\n', arraycount=None, header=True):
    events = events if events is not None else [('1 BOOT',''),('2 PERIODIC','')]
    n = arraycount if arraycount is not None else len(events)
    ev = ''.join(f'<EventStruct><EventCode>{c}</EventCode><CommandKey>{k}</CommandKey></EventStruct>\n' for c,k in events)
    p = lambda pfx: (pfx + ':') if pfx else ''
    E, C, S = p(env), p(cwmp), p(enc)
    envdecl = f'xmlns:{env}="{ENV}"' if env else f'xmlns="{ENV}"'
    cdecl = f'xmlns:{cwmp}="{ns}"' if cwmp else ''
    body_open = f'<{C}Inform>' if cwmp else f'<Inform xmlns="{ns}">'
    hdr = f'<{E}Header><{C}ID {E}mustUnderstand="1">42</{C}ID></{E}Header>\n' if header and cwmp else (f'<Header><ID xmlns="{ns}" mustUnderstand="1">42</ID></Header>\n' if header else '')
    if not env and header and cwmp: hdr = f'<Header><{C}ID>42</{C}ID></Header>\n'
    return f'''{decl}<{E}Envelope {envdecl} xmlns:{enc}="{ENC}" xmlns:xsd="{XSD}" xmlns:xsi="{XSI}" {cdecl}>
{hdr}<{E}Body>
{body_open}
<DeviceId><Manufacturer>{manuf}</Manufacturer><OUI>000B82</OUI><ProductClass>GXP2140</ProductClass><SerialNumber>20EZ8F6A05012345</SerialNumber></DeviceId>
<Event {S}arrayType="cwmp:EventStruct[{n}]">
{ev}</Event>
<MaxEnvelopes>1</MaxEnvelopes>
<CurrentTime>2025-03-01T12:00:00</CurrentTime>
<RetryCount>0</RetryCount>
<ParameterList {S}arrayType="cwmp:ParameterValueStruct[2]">
<ParameterValueStruct><Name>InternetGatewayDevice.DeviceInfo.SoftwareVersion</Name><Value xsi:type="xsd:string">1.0.11.74</Value></ParameterValueStruct>
<ParameterValueStruct><Name>InternetGatewayDevice.ManagementServer.ConnectionRequestURL</Name><Value xsi:type="xsd:string">http://192.168.1.23:7547/cr</Value></ParameterValueStruct>
{extra_pvs}</ParameterList>
{'</' + C + 'Inform>' if cwmp else '</Inform>'}
</{E}Body>
</{E}Envelope>
'''
def w(name, data):
    if isinstance(data, str): data = data.encode('utf-8')
    open(name, 'wb').write(data)

w('accept-prefix-soapenv-cwmp-1-0.xml', inform())
w('accept-prefix-SOAP-ENV-cwmp-1-1.xml', inform(env='SOAP-ENV', enc='SOAP-ENC', ns='urn:dslforum-org:cwmp-1-1'))
w('accept-prefix-none-default-namespaces.xml', inform(env='', cwmp='', ns='urn:dslforum-org:cwmp-1-2', header=False))
w('accept-prefix-cwmp1-cwmp-1-2.xml', inform(env='s', cwmp='cwmp1', enc='e', ns='urn:dslforum-org:cwmp-1-2'))
# charsets
w('accept-latin1-charset-in-http-header.xml', inform(decl='<?xml version="1.0"?>\n', manuf='Télécom Société').encode('latin-1'))
w('accept-latin1-charset-in-xml-decl.xml', inform(decl='<?xml version="1.0" encoding="ISO-8859-1"?>\n', manuf='Télécom Société').encode('latin-1'))
w('accept-utf8-no-charset.xml', inform(decl='', manuf='Télécom Société 中文'))
w('accept-utf8-bom.xml', b'\xef\xbb\xbf' + inform(manuf='Télécom Société').encode())
w('accept-unlabelled-latin1-fallback.xml', inform(decl='', manuf='Télécom Société').encode('latin-1'))
w('accept-utf16-bom.xml', inform(decl='<?xml version="1.0" encoding="UTF-16"?>\n', manuf='Télécom Société').encode('utf-16'))
base = inform().encode()
w('accept-gzip.xml.gz', gzip.compress(base, mtime=0))
w('accept-deflate.xml.deflate', zlib.compress(base))
w('accept-whitespace-only-body.xml', ' \r\n\t \r\n')
w('accept-missing-xsi-type.xml', inform(extra_pvs='<ParameterValueStruct><Name>InternetGatewayDevice.ManagementServer.PeriodicInformInterval</Name><Value>86400</Value></ParameterValueStruct>\n'))
w('accept-arraytype-count-mismatch.xml', inform(arraycount=7))
w('accept-single-eventstruct.xml', inform(events=[('6 CONNECTION REQUEST','')]))
w('accept-unknown-xsi-type.xml', inform(extra_pvs='<ParameterValueStruct><Name>X.IP</Name><Value xsi:type="cwmp:IPAddress">10.0.0.1</Value></ParameterValueStruct>\n'))
w('accept-empty-body-element.xml', f'<soapenv:Envelope xmlns:soapenv="{ENV}"><soapenv:Header/><soapenv:Body/></soapenv:Envelope>')
w('accept-cdata-and-comments.xml', inform(extra_pvs='<!-- note --><ParameterValueStruct><Name>X.Note</Name><Value xsi:type="xsd:string"><![CDATA[a<b&c]]></Value></ParameterValueStruct>\n'))
w('accept-fault-spv.xml', f'''<?xml version="1.0"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="{ENV}" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><SOAP-ENV:Header><cwmp:ID SOAP-ENV:mustUnderstand="1">5</cwmp:ID></SOAP-ENV:Header>
<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring><detail><cwmp:Fault><FaultCode>9003</FaultCode><FaultString>Invalid arguments</FaultString>
<SetParameterValuesFault><ParameterName>InternetGatewayDevice.ManagementServer.PeriodicInformInterval</ParameterName><FaultCode>9007</FaultCode><FaultString>Invalid value</FaultString></SetParameterValuesFault>
</cwmp:Fault></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>''')

# refused
full = inform()
w('refuse-truncated.xml', full[: len(full)//2])
w('refuse-dtd.xml', '<?xml version="1.0"?>\n<!DOCTYPE Envelope [ <!ELEMENT Envelope ANY> ]>\n' + full.split('\n',1)[1])
laughs = '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n' + ''.join(f' <!ENTITY lol{i} "{("&lol%s;" % (i-1 if i>1 else "")) * 10}">\n' for i in range(1,10)) + ']>\n<lolz>&lol9;</lolz>\n'
w('refuse-billion-laughs.xml', laughs)
w('refuse-external-entity.xml', f'<?xml version="1.0"?>\n<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>\n<soapenv:Envelope xmlns:soapenv="{ENV}" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soapenv:Body><cwmp:GetParameterValues><ParameterNames><string>&xxe;</string></ParameterNames></cwmp:GetParameterValues></soapenv:Body></soapenv:Envelope>')
w('refuse-wrong-namespace.xml', inform(ns='urn:dslforum-org:cwmp-2-0'))
w('refuse-soap12-envelope.xml', f'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body/></env:Envelope>')
w('refuse-unknown-method.xml', f'<soapenv:Envelope xmlns:soapenv="{ENV}" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soapenv:Body><cwmp:GetEverything/></soapenv:Body></soapenv:Envelope>')
w('refuse-undefined-entity.xml', f'<soapenv:Envelope xmlns:soapenv="{ENV}" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soapenv:Body><cwmp:Reboot><CommandKey>&nbsp;</CommandKey></cwmp:Reboot></soapenv:Body></soapenv:Envelope>')
w('refuse-not-xml.xml', 'HTTP/1.1 200 OK\r\n\r\nhello')
w('refuse-no-body.xml', f'<soapenv:Envelope xmlns:soapenv="{ENV}"><soapenv:Header/></soapenv:Envelope>')
w('refuse-bad-utf8-declared.xml', inform(decl='<?xml version="1.0" encoding="UTF-8"?>\n', manuf='Télécom').encode('latin-1'))
w('refuse-unknown-charset.xml', inform(decl='<?xml version="1.0" encoding="X-KLINGON"?>\n'))
w('refuse-unbound-prefix.xml', '<soapenv:Envelope><soapenv:Body/></soapenv:Envelope>')
w('refuse-missing-required-field.xml', f'<soapenv:Envelope xmlns:soapenv="{ENV}" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soapenv:Body><cwmp:Inform><Event/><MaxEnvelopes>1</MaxEnvelopes></cwmp:Inform></soapenv:Body></soapenv:Envelope>')
